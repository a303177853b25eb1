// The CUDA runtime API behind DeviceRuntime (see kernels/device/runtime.h): real GPUs.
#include <cuda_runtime.h>

#include <atomic>
#include <mutex>

#include "kernels/cuda/bad_index_report.h"
#include "kernels/cuda/check.h"
#include "kernels/device/runtime.h"

namespace tandem::kernels::device {

namespace {

cudaStream_t as_stream(StreamHandle s) { return static_cast<cudaStream_t>(s); }
cudaEvent_t as_event(EventHandle e) { return static_cast<cudaEvent_t>(e); }

// Whether this thread has made a device current through this runtime (set_device, on_device).
thread_local bool tls_has_device = false;
// The device most recently made current by set_device on any thread: the process's device
// (a rank's GPU), where page-locked host memory is allocated from helper threads.
std::atomic<int> home_device{-1};

// Runs `fn` with `device` current, restoring the caller's device (allocator and stream calls
// may come from any thread and for any device). A thread that had no device keeps `device`:
// "restoring" its implicit device 0 would create a context on GPU 0 (cudaSetDevice initialises
// the device's primary context), hundreds of MiB on another rank's GPU.
template <typename Fn>
auto on_device(int device, Fn&& fn) {
  if (!tls_has_device) {
    TANDEM_CUDA_CHECK(cudaSetDevice(device));
    tls_has_device = true;
    return fn();
  }
  int previous = 0;
  TANDEM_CUDA_CHECK(cudaGetDevice(&previous));
  if (previous != device) TANDEM_CUDA_CHECK(cudaSetDevice(device));
  struct Restore {
    int previous, device;
    ~Restore() {
      if (previous != device) cudaSetDevice(previous);
    }
  } restore{previous, device};
  return fn();
}

class CudaRuntime final : public DeviceRuntime {
 public:
  std::string name() const override { return "CUDA"; }

  int device_count() override {
    std::call_once(probe_once_, [this] {
      int n = 0;
      const cudaError_t err = cudaGetDeviceCount(&n);
      if (err != cudaSuccess) {
        reason_ = cudaGetErrorString(err);
        cudaGetLastError();  // clear the sticky error: no device is not a failure here
        n = 0;
      } else if (n == 0) {
        reason_ = "no CUDA device is present";
      }
      count_ = n;
    });
    return count_;
  }
  std::string unavailable_reason() override {
    device_count();
    return reason_;
  }
  void set_device(int device) override {
    TANDEM_CUDA_CHECK(cudaSetDevice(device));
    tls_has_device = true;
    home_device.store(device, std::memory_order_relaxed);
  }

  void* malloc(size_t nbytes, int device) override {
    return on_device(device, [&]() -> void* {
      void* p = nullptr;
      const cudaError_t err = cudaMalloc(&p, nbytes);
      if (err == cudaErrorMemoryAllocation) {
        cudaGetLastError();
        return nullptr;  // the caching allocator frees its cache and retries
      }
      TANDEM_CUDA_CHECK(err);
      return p;
    });
  }
  void free(void* ptr, int device) override {
    if (!ptr) return;
    on_device(device, [&] { TANDEM_CUDA_CHECK(cudaFree(ptr)); });
  }
  // On the process's device (the data loader's thread never chose one); pinned memory is
  // portable (unified addressing), so any device's copies can read it.
  void* malloc_host(size_t nbytes) override {
    auto alloc = [&] {
      void* p = nullptr;
      TANDEM_CUDA_CHECK(cudaMallocHost(&p, nbytes));
      return p;
    };
    const int home = home_device.load(std::memory_order_relaxed);
    return home >= 0 ? on_device(home, alloc) : alloc();
  }
  void free_host(void* ptr) override {
    if (ptr) TANDEM_CUDA_CHECK(cudaFreeHost(ptr));
  }
  std::pair<size_t, size_t> memory_info(int device) override {
    return on_device(device, [&] {
      size_t free_bytes = 0, total = 0;
      TANDEM_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total));
      return std::make_pair(free_bytes, total);
    });
  }

  StreamHandle create_stream(int device) override {
    return on_device(device, [&] {
      cudaStream_t s = nullptr;
      // Non-blocking: tandem orders its work by events, never through the legacy stream.
      TANDEM_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
      return static_cast<StreamHandle>(s);
    });
  }
  void destroy_stream(StreamHandle s, int device) override {
    on_device(device, [&] { TANDEM_CUDA_CHECK(cudaStreamDestroy(as_stream(s))); });
  }
  // A bad index a kernel reported is thrown after a wait for a stream or the device (not an
  // event: the allocators wait on events in the middle of their bookkeeping).
  void synchronize_stream(StreamHandle s) override {
    count_host_wait();
    TANDEM_CUDA_CHECK(cudaStreamSynchronize(as_stream(s)));
    cuda::throw_reported_bad_index();
  }
  void synchronize_device(int device) override {
    count_host_wait();
    on_device(device, [&] { TANDEM_CUDA_CHECK(cudaDeviceSynchronize()); });
    cuda::throw_reported_bad_index();
  }

  EventHandle create_event(int device) override {
    return on_device(device, [&] {
      cudaEvent_t e = nullptr;
      TANDEM_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
      return static_cast<EventHandle>(e);
    });
  }
  void destroy_event(EventHandle e, int device) override {
    on_device(device, [&] { TANDEM_CUDA_CHECK(cudaEventDestroy(as_event(e))); });
  }
  void record_event(EventHandle e, StreamHandle s) override {
    TANDEM_CUDA_CHECK(cudaEventRecord(as_event(e), as_stream(s)));
  }
  bool event_done(EventHandle e) override {
    const cudaError_t err = cudaEventQuery(as_event(e));
    if (err == cudaErrorNotReady) {
      cudaGetLastError();
      return false;
    }
    TANDEM_CUDA_CHECK(err);
    return true;
  }
  void synchronize_event(EventHandle e) override {
    count_host_wait();
    TANDEM_CUDA_CHECK(cudaEventSynchronize(as_event(e)));
  }
  void stream_wait_event(StreamHandle s, EventHandle e) override {
    TANDEM_CUDA_CHECK(cudaStreamWaitEvent(as_stream(s), as_event(e), 0));
  }

  void memcpy_async(void* dst, const void* src, size_t nbytes, CopyKind kind,
                    StreamHandle s) override {
    if (nbytes == 0) return;
    const cudaMemcpyKind k = kind == CopyKind::HostToDevice   ? cudaMemcpyHostToDevice
                             : kind == CopyKind::DeviceToHost ? cudaMemcpyDeviceToHost
                                                              : cudaMemcpyDeviceToDevice;
    TANDEM_CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, k, as_stream(s)));
  }

  void memcpy_peer_async(void* dst, int dst_device, const void* src, int src_device, size_t nbytes,
                         StreamHandle s) override {
    if (nbytes == 0) return;
    TANDEM_CUDA_CHECK(cudaMemcpyPeerAsync(dst, dst_device, src, src_device, nbytes, as_stream(s)));
  }

 private:
  std::once_flag probe_once_;
  int count_ = 0;
  std::string reason_;
};

}  // namespace

DeviceRuntime& real_cuda_runtime() {
  static CudaRuntime* rt = new CudaRuntime();  // never destroyed: used until the process ends
  return *rt;
}

bool built_with_cuda() { return true; }

}  // namespace tandem::kernels::device
