// DeviceRuntime: the few things tandem asks of a GPU runtime (memory, streams, events, copies),
// as one interface with three implementations:
//   - kernels/cuda/cuda_runtime.cpp      the CUDA runtime API (real GPUs);
//   - kernels/emulated/emulated_runtime  the emulated CUDA device: host memory behind device
//                                        pointers the host cannot dereference, streams that
//                                        run on worker threads (CI and laptops have no GPU);
//   - tests' fakes                       for the caching allocator's bookkeeping.
// Framework code never includes CUDA headers; it goes through cuda_runtime() and
// kernels/device/context.h.
//
// Which runtime serves `cuda` tensors is decided once per process: the emulated one when the
// environment sets TANDEM_EMULATE_CUDA=N (N emulated devices) or the build is
// TANDEM_CUDA=EMULATED, else the real one when tandem was built with CUDA, else none (every
// use explains that tandem was built without CUDA).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

namespace tandem::kernels::device {

using StreamHandle = void*;  // cudaStream_t, or the emulated device's stream
using EventHandle = void*;   // cudaEvent_t, or the emulated device's event

enum class CopyKind { HostToDevice, DeviceToHost, DeviceToDevice };

class DeviceRuntime {
 public:
  virtual ~DeviceRuntime() = default;

  virtual std::string name() const = 0;  // "CUDA", "emulated CUDA"
  virtual bool emulated() const { return false; }
  // Devices present; 0 (never an exception) when there is no driver or device.
  virtual int device_count() = 0;
  // Why device_count() is 0, for error messages ("CUDA driver version is insufficient ...").
  virtual std::string unavailable_reason() = 0;
  virtual void set_device(int device) = 0;  // the calling thread's current device

  // Device memory. malloc returns nullptr when the device is out of memory, so the caching
  // allocator can free its cache and retry; other failures throw.
  virtual void* malloc(size_t nbytes, int device) = 0;
  virtual void free(void* ptr, int device) = 0;
  // Page-locked host memory (asynchronous copies).
  virtual void* malloc_host(size_t nbytes) = 0;
  virtual void free_host(void* ptr) = 0;
  // (free, total) bytes of the device's memory.
  virtual std::pair<size_t, size_t> memory_info(int device) = 0;

  virtual StreamHandle create_stream(int device) = 0;
  virtual void destroy_stream(StreamHandle stream, int device) = 0;
  virtual void synchronize_stream(StreamHandle stream) = 0;
  virtual void synchronize_device(int device) = 0;

  virtual EventHandle create_event(int device) = 0;
  virtual void destroy_event(EventHandle event, int device) = 0;
  virtual void record_event(EventHandle event, StreamHandle stream) = 0;
  virtual bool event_done(EventHandle event) = 0;
  virtual void synchronize_event(EventHandle event) = 0;
  virtual void stream_wait_event(StreamHandle stream, EventHandle event) = 0;  // device side

  // Ordered on `stream`; the host may not touch `dst` of a DeviceToHost copy before the stream
  // is synchronised.
  virtual void memcpy_async(void* dst, const void* src, size_t nbytes, CopyKind kind,
                            StreamHandle stream) = 0;
  // Device to device across devices, ordered on `stream` (of the destination device).
  virtual void memcpy_peer_async(void* dst, int dst_device, const void* src, int src_device,
                                 size_t nbytes, StreamHandle stream) = 0;

  // How many times the host has waited for a device (the synchronize_* calls): a wait stops the
  // host from queueing more work, so a steady training step should make one (to read its loss).
  // Tests count them on the emulated device, where every other wait would go unnoticed.
  uint64_t host_waits() const { return host_waits_.load(std::memory_order_relaxed); }

 protected:
  void count_host_wait() { host_waits_.fetch_add(1, std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> host_waits_{0};
};

// The process's runtime for `cuda` devices (see above). Never null.
DeviceRuntime& cuda_runtime();
// True when `cuda` tensors are served by the emulated device.
bool cuda_is_emulated();
// True when this build contains the real CUDA backend (kernels/cuda).
bool built_with_cuda();

// Provided by kernels/cuda (real) or kernels/cuda_stub: the real runtime, or one that explains
// that tandem was built without CUDA.
DeviceRuntime& real_cuda_runtime();

}  // namespace tandem::kernels::device
