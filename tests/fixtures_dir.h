// fixture_path(name): a file of tests/fixtures. The directory is the environment variable
// TANDEM_FIXTURES_DIR when set (a test binary run away from this checkout, e.g. from the GPU
// bundle of tests/gpu/bundle.sh), else the compile definition TANDEM_FIXTURES_DIR (the source
// tree).
#pragma once

#include <cstdlib>
#include <string>

namespace tandem::testing {

inline std::string fixture_path(const std::string& name) {
  const char* dir = std::getenv("TANDEM_FIXTURES_DIR");
  return std::string(dir && *dir ? dir : TANDEM_FIXTURES_DIR) + "/" + name;
}

}  // namespace tandem::testing
