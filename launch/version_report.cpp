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
//
// and when the emulated device serves `cuda` (TANDEM_EMULATE_CUDA=4):
//
//   devices: 4 emulated CUDA devices (TANDEM_EMULATE_CUDA=4), 4096 MiB each
//   real CUDA devices (unused while cuda is emulated): none (no CUDA device: ...)
#include "launch/version_report.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "kernels/cpu/blas_version.h"
#include "kernels/cpu/conv_onednn.h"
#include "kernels/cuda/library_versions.h"
#include "kernels/device/runtime.h"
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

// The devices the CUDA report found, or why there are none: " none (...)\n" or "\n  cuda:0 ...".
std::string real_devices(const kernels::cuda::CudaReport& cuda) {
  if (cuda.devices.empty()) return " none (no CUDA device: " + cuda.no_device_reason + ")\n";
  std::string out = "\n";
  for (const auto& d : cuda.devices)
    out += "  cuda:" + std::to_string(d.index) + "  " + d.name + ", " + gib(d.total_memory) +
           ", compute capability " + std::to_string(d.major) + "." + std::to_string(d.minor) +
           ", " + std::to_string(d.multiprocessors) + " multiprocessors\n";
  if (!cuda.no_device_reason.empty()) out += "  (" + cuda.no_device_reason + ")\n";
  return out;
}

// "4 emulated CUDA devices (TANDEM_EMULATE_CUDA=4), 4096 MiB each" when the emulated device
// serves `cuda`, "none (TANDEM_EMULATE_CUDA='x' is not a device count)" when its settings are
// wrong, else empty. Never throws: --version must answer whatever the environment.
std::string emulated_devices() {
  const char* env = std::getenv("TANDEM_EMULATE_CUDA");
  try {
    if (!kernels::device::cuda_is_emulated()) return {};
    auto& rt = kernels::device::cuda_runtime();
    const int n = rt.device_count();
    const std::string source = env && *env ? std::string("TANDEM_EMULATE_CUDA=") + env
                                           : std::string("TANDEM_CUDA=EMULATED build");
    return std::to_string(n) + " emulated CUDA device" + (n == 1 ? "" : "s") + " (" + source +
           "), " + std::to_string(rt.memory_info(0).second >> 20) + " MiB" +
           (n == 1 ? "" : " each");
  } catch (const std::exception& e) {
    return std::string("none (") + e.what() + ")";
  }
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
  libs.push_back(kernels::cpu::onednn_version());
  libs.push_back(parallel::mpi_version());
  out += library_table(libs);

  const std::string emulated = emulated_devices();
  if (emulated.empty()) return out + "\ndevices:" + real_devices(cuda);
  // The emulated device serves `cuda`: it comes first; the real ones are still worth knowing.
  out += "\ndevices: " + emulated + "\n";
  out += "real CUDA devices (unused while cuda is emulated):" + real_devices(cuda);
  return out;
}

}  // namespace tandem::launch
