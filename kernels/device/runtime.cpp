// Which runtime serves `cuda` devices, and the dispatch table's view of it (see runtime.h).
#include "kernels/device/runtime.h"

#include <cstdlib>
#include <string>

#include "kernels/common/error.h"
#include "kernels/dispatch.h"
#include "kernels/emulated/emulated_runtime.h"

namespace tandem::kernels::device {

namespace {

// TANDEM_EMULATE_CUDA=N asks for N emulated devices; unset, empty or 0 means "no". A build with
// TANDEM_CUDA=EMULATED emulates one device unless the variable says otherwise.
int requested_emulated_devices() {
  const char* env = std::getenv("TANDEM_EMULATE_CUDA");
  if (env && *env) {
    char* end = nullptr;
    const long n = std::strtol(env, &end, 10);
    if (*end != '\0' || n < 0 || n > emulated::kMaxDevices)
      throw Error(std::string("TANDEM_EMULATE_CUDA='") + env + "' is not a device count",
                  "set it to the number of emulated CUDA devices (1 to " +
                      std::to_string(emulated::kMaxDevices) + "), or 0 for none");
    return int(n);
  }
#ifdef TANDEM_EMULATED_CUDA_DEFAULT
  return 1;
#else
  return 0;
#endif
}

}  // namespace

DeviceRuntime& cuda_runtime() {
  static DeviceRuntime* rt = [] {
    const int emulated_devices = requested_emulated_devices();
    return emulated_devices > 0 ? &emulated::runtime(emulated_devices) : &real_cuda_runtime();
  }();
  return *rt;
}

bool cuda_is_emulated() { return cuda_runtime().emulated(); }

}  // namespace tandem::kernels::device

namespace tandem::kernels {

Backend backend_of(Device device) {
  if (device.is_cpu()) return Backend::CPU;
  return device::cuda_is_emulated() ? Backend::EmulatedCUDA : Backend::CUDA;
}

const char* backend_name(Backend b) {
  switch (b) {
    case Backend::CPU:
      return "CPU";
    case Backend::CUDA:
      return "CUDA";
    case Backend::EmulatedCUDA:
      return "emulated CUDA";
  }
  return "?";
}

void throw_missing_kernel(const char* family, Backend backend) {
  std::string what = std::string(family) + ": no " + backend_name(backend) + " kernel";
  if (backend == Backend::CUDA && !device::built_with_cuda()) what += " (built without CUDA)";
  throw Error(what, backend == Backend::CPU ? "" : "run this op on the cpu device");
}

}  // namespace tandem::kernels
