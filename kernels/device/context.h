// Per-thread device state for `cuda` devices: the current device, one compute stream per device
// that every kernel, copy and collective orders against, and the KernelContext an op hands to
// its kernels.
//
//   DeviceGuard guard(t.device().index);          // like c10::cuda::CUDAGuard
//   kernels::unary(context_for(t.device()), ...);  // runs on the device's current stream
//
// The compute stream is a non-blocking stream created on first use; StreamGuard makes another
// stream current for a scope (tests, side streams), as c10's CUDAStreamGuard.
#pragma once

#include "kernels/common/device.h"
#include "kernels/device/runtime.h"
#include "kernels/dispatch.h"

namespace tandem::kernels::device {

// The calling thread's current CUDA device (0 until set).
int current_device();
void set_current_device(int device);

class DeviceGuard {
 public:
  explicit DeviceGuard(int device);
  ~DeviceGuard();
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_;
  bool had_device_;  // a thread that never chose a device keeps this one (see the .cpp)
};

// The device's compute stream (created once per process and device).
StreamHandle compute_stream(int device);
// A second stream per device (created once per process) for host-to-device copies of the next
// batch, so they overlap the compute stream's work (data::DevicePrefetcher).
StreamHandle input_stream(int device);
// The stream kernels on `device` run on from this thread: the compute stream unless a
// StreamGuard is active.
StreamHandle current_stream(int device);

class StreamGuard {
 public:
  StreamGuard(int device, StreamHandle stream);
  ~StreamGuard();
  StreamGuard(const StreamGuard&) = delete;
  StreamGuard& operator=(const StreamGuard&) = delete;

 private:
  int device_;
  StreamHandle previous_;
};

// Throws a clear error unless `device` is a usable CUDA device (names the device, the count and,
// when there is none, the runtime's reason).
void check_device(int device);

// Blocks until all work queued on `device`'s current stream has finished.
void synchronize(int device);

}  // namespace tandem::kernels::device

namespace tandem::kernels {
// The context for a kernel on `device`: its current stream (CPU: none).
KernelContext context_for(Device device);
}  // namespace tandem::kernels
