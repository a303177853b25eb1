// `tandem --version` (see version_report.h). On a machine with the CUDA toolkit but no driver:
//
//   tandem 0.10.0 (commit 8382c7fd40d7), Release build, GNU 12.2.0, CUDA sm_90
//
//   library       built with               running with    loaded from
//   CUDA runtime  13.0                     13.0            /usr/local/cuda/lib/libcudart.so.13
//   CUDA driver   -                        none (no NVIDIA driver: libcuda.so.1 not found)
//   cuDNN         9.19.0                   9.19.0          /usr/local/cuda/lib/libcudnn.so.9
//   ...
//
//   devices: none (no CUDA device: cudaErrorInsufficientDriver: CUDA driver version is ...)
#include "launch/version_report.h"

#include <algorithm>
#include <cstdio>
#include <vector>

#include "kernels/cpu/blas_version.h"
#include "kernels/cuda/library_versions.h"
#include "parallel/library_versions.h"

namespace tandem::launch {
namespace {

std::string padded(const std::string& s, size_t width) {
  return s.size() >= width ? s + "  " : s + std::string(width + 2 - s.size(), ' ');
}

std::string gib(size_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f GiB", double(bytes) / double(1ull << 30));
  return text;
}

std::string library_table(const std::vector<kernels::LibraryVersion>& libs) {
  std::vector<std::vector<std::string>> rows = {
      {"library", "built with", "running with", "loaded from"}};
  for (const auto& l : libs) rows.push_back({l.name, l.built, l.running, l.location});
  // A long "running with" (OpenBLAS's build options) pushes only its own row's last column.
  const size_t max_width[3] = {20, 30, 24};
  size_t width[3] = {0, 0, 0};
  for (const auto& r : rows)
    for (int c = 0; c < 3; ++c)
      if (r[c].size() <= max_width[c]) width[c] = std::max(width[c], r[c].size());
  std::string out;
  for (const auto& r : rows) {
    std::string line = padded(r[0], width[0]) + padded(r[1], width[1]);
    line += r[3].empty() ? r[2] : padded(r[2], width[2]) + r[3];
    out += line + "\n";
  }
  return out;
}

}  // namespace

std::string version_report(const BuildInfo& build) {
  const kernels::cuda::CudaReport cuda = kernels::cuda::cuda_report();
  std::string out = "tandem " + build.version + " (commit " + build.commit + "), " +
                    build.build_type + " build, " + build.compiler + ", ";
  out += cuda.built_with_cuda ? "CUDA sm_" + build.cuda_architectures : "built without CUDA";
  out += "\n\n";

  std::vector<kernels::LibraryVersion> libs = cuda.libraries;
  libs.push_back(parallel::nccl_version());
  libs.push_back(kernels::cpu::openblas_version());
  libs.push_back(parallel::mpi_version());
  out += library_table(libs);

  out += "\ndevices:";
  if (cuda.devices.empty()) return out + " none (no CUDA device: " + cuda.no_device_reason + ")\n";
  out += "\n";
  for (const auto& d : cuda.devices)
    out += "  cuda:" + std::to_string(d.index) + "  " + d.name + ", " + gib(d.total_memory) +
           ", compute capability " + std::to_string(d.major) + "." + std::to_string(d.minor) +
           ", " + std::to_string(d.multiprocessors) + " multiprocessors\n";
  if (!cuda.no_device_reason.empty()) out += "  (" + cuda.no_device_reason + ")\n";
  return out;
}

}  // namespace tandem::launch
