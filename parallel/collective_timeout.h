// How long a rank waits for a collective before it decides a peer has failed and aborts the job.
// One setting for every backend: TANDEM_COLLECTIVE_TIMEOUT seconds, default 300.
#pragma once

#include <cstdlib>

namespace tandem::parallel {

inline double collective_timeout_seconds() {
  const char* env = std::getenv("TANDEM_COLLECTIVE_TIMEOUT");
  const double s = env ? std::atof(env) : 0.0;
  return s > 0 ? s : 300.0;
}

}  // namespace tandem::parallel
