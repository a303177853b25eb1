// The `cuda` runtime of a build without the CUDA backend: no devices, and every use explains
// why (the emulated device, TANDEM_EMULATE_CUDA, still works in such a build).
#include "kernels/common/error.h"
#include "kernels/device/runtime.h"

namespace tandem::kernels::device {

namespace {

[[noreturn]] void unavailable() {
  throw Error("tandem was built without CUDA (TANDEM_CUDA=OFF or no nvcc found)",
              "rebuild with -DTANDEM_CUDA=ON to use GPUs, or set TANDEM_EMULATE_CUDA=1 for an "
              "emulated CUDA device");
}

class NoCudaRuntime final : public DeviceRuntime {
 public:
  std::string name() const override { return "CUDA (not built)"; }
  int device_count() override { return 0; }
  std::string unavailable_reason() override {
    return "tandem was built without CUDA (TANDEM_CUDA=OFF or no nvcc found)";
  }
  void set_device(int) override { unavailable(); }
  void* malloc(size_t, int) override { unavailable(); }
  void free(void*, int) override {}
  void* malloc_host(size_t) override { unavailable(); }
  void free_host(void*) override {}
  std::pair<size_t, size_t> memory_info(int) override { unavailable(); }
  StreamHandle create_stream(int) override { unavailable(); }
  void destroy_stream(StreamHandle, int) override {}
  void synchronize_stream(StreamHandle) override {}
  void synchronize_device(int) override {}
  EventHandle create_event(int) override { unavailable(); }
  void destroy_event(EventHandle, int) override {}
  void record_event(EventHandle, StreamHandle) override { unavailable(); }
  bool event_done(EventHandle) override { return true; }
  void synchronize_event(EventHandle) override {}
  void stream_wait_event(StreamHandle, EventHandle) override { unavailable(); }
  void memcpy_async(void*, const void*, size_t, CopyKind, StreamHandle) override { unavailable(); }
  void memcpy_peer_async(void*, int, const void*, int, size_t, StreamHandle) override {
    unavailable();
  }
};

}  // namespace

DeviceRuntime& real_cuda_runtime() {
  static NoCudaRuntime rt;
  return rt;
}

bool built_with_cuda() { return false; }

}  // namespace tandem::kernels::device
