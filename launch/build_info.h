// What this `tandem` executable is: version, git commit, build type, compiler, CUDA targets.
// build_info() is generated at build time (cmake/TandemBuildInfo.cmake) and linked into the
// executable only; the library code takes a BuildInfo as an argument (version_report.h).
#pragma once

#include <string>

namespace tandem::launch {

struct BuildInfo {
  std::string version;             // "0.10.0" (project(tandem VERSION ...))
  std::string commit;              // "8382c7f1a2b3", "...-dirty", or "unknown"
  std::string build_type;          // "Release"
  std::string compiler;            // "GNU 12.2.0"
  std::string cuda_architectures;  // "90"; "" when built without CUDA
};

const BuildInfo& build_info();

}  // namespace tandem::launch
