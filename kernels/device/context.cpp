// Current device, compute streams and kernel contexts (see context.h).
#include "kernels/device/context.h"

#include <array>
#include <mutex>

#include "kernels/common/error.h"

namespace tandem::kernels::device {

namespace {

constexpr int kMaxDevices = 64;

thread_local int tls_device = 0;
thread_local bool tls_device_set = false;
// Per-thread stream overrides (StreamGuard); null means the compute stream.
thread_local std::array<StreamHandle, kMaxDevices> tls_streams{};
// This thread's copy of the compute streams, so a kernel launch takes no lock.
thread_local std::array<StreamHandle, kMaxDevices> tls_compute_streams{};

std::mutex streams_mutex;
std::array<StreamHandle, kMaxDevices> compute_streams{};
std::array<StreamHandle, kMaxDevices> input_streams{};

// The process-wide stream of `streams` for `device`, created at first use.
StreamHandle stream_of(std::array<StreamHandle, kMaxDevices>& streams, int device) {
  check_device(device);
  std::lock_guard<std::mutex> lock(streams_mutex);
  StreamHandle& s = streams[size_t(device)];
  if (!s) s = cuda_runtime().create_stream(device);  // lives as long as the process
  return s;
}

}  // namespace

void check_device(int device) {
  DeviceRuntime& rt = cuda_runtime();
  const int n = rt.device_count();
  if (n == 0)
    throw Error("cuda:" + std::to_string(device) + " is not available: " + rt.unavailable_reason(),
                "use the cpu device, or set TANDEM_EMULATE_CUDA=1 to run CUDA code paths on an "
                "emulated device");
  if (device < 0 || device >= n || device >= kMaxDevices)
    throw Error(detail::concat("cuda:", device, " is not available: ", rt.name(), " has ", n,
                               " device", n == 1 ? "" : "s"),
                "use cuda:0 to cuda:" + std::to_string(n - 1));
}

int current_device() { return tls_device; }

void set_current_device(int device) {
  if (tls_device_set && tls_device == device) return;
  check_device(device);
  cuda_runtime().set_device(device);
  tls_device = device;
  tls_device_set = true;
}

DeviceGuard::DeviceGuard(int device) : previous_(current_device()), had_device_(tls_device_set) {
  set_current_device(device);
}
// Restoring device 0 on a thread that never chose one would initialise GPU 0's context on it
// (hundreds of MiB on another rank's GPU): such a thread keeps the guard's device.
DeviceGuard::~DeviceGuard() {
  if (!had_device_) return;
  try {
    set_current_device(previous_);
  } catch (...) {  // the previous device was valid when set; never throw from a destructor
  }
}

StreamHandle compute_stream(int device) { return stream_of(compute_streams, device); }
StreamHandle input_stream(int device) { return stream_of(input_streams, device); }

StreamHandle current_stream(int device) {
  if (device >= 0 && device < kMaxDevices) {
    if (StreamHandle s = tls_streams[size_t(device)]) return s;
    StreamHandle& cached = tls_compute_streams[size_t(device)];
    if (!cached) cached = compute_stream(device);
    return cached;
  }
  return compute_stream(device);
}

StreamGuard::StreamGuard(int device, StreamHandle stream)
    : device_(device), previous_(tls_streams.at(size_t(device))) {
  tls_streams[size_t(device)] = stream;
}
StreamGuard::~StreamGuard() { tls_streams[size_t(device_)] = previous_; }

void synchronize(int device) { cuda_runtime().synchronize_stream(current_stream(device)); }

}  // namespace tandem::kernels::device

namespace tandem::kernels {

KernelContext context_for(Device device) {
  if (device.is_cpu()) return {device, nullptr};
  device::set_current_device(device.index);
  return {device, device::current_stream(device.index)};
}

}  // namespace tandem::kernels
