// The emulated CUDA runtime (see emulated_runtime.h).
#include "kernels/emulated/emulated_runtime.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_map>

#include "kernels/common/error.h"
#include "kernels/device/context.h"
#include "kernels/emulated/emulated_kernel.h"

namespace tandem::kernels::emulated {

namespace {

constexpr uintptr_t kTagShift = 48;
constexpr uintptr_t kTagMask = uintptr_t(0xFF) << kTagShift;
constexpr uintptr_t kTagMarker = 0xA0;  // high nibble of the tag byte; low nibble: device
constexpr size_t kAlignment = 256;      // cudaMalloc's alignment

struct Stream {
  int device;
};
struct Event {
  int device;
  bool recorded = false;
};

// TANDEM_EMULATED_MEMORY_MB: each device's capacity in MiB (default 4096). A value that is not
// a positive count is an error, not a silent 4 GiB device.
size_t memory_capacity() {
  constexpr long long kMaxMiB = 1ll << 30;  // 1 PiB: more than any device, far from overflow
  const char* mb = std::getenv("TANDEM_EMULATED_MEMORY_MB");
  if (!mb || !*mb) return size_t(4096) << 20;
  char* end = nullptr;
  const long long v = std::strtoll(mb, &end, 10);
  if (*end != '\0' || v <= 0 || v > kMaxMiB)
    throw Error(std::string("TANDEM_EMULATED_MEMORY_MB='") + mb + "' is not a size in MiB",
                "set it to each emulated device's memory in MiB (1 to " + std::to_string(kMaxMiB) +
                    "), or unset it for 4096");
  return size_t(v) << 20;
}

class EmulatedRuntime final : public device::DeviceRuntime {
 public:
  explicit EmulatedRuntime(int devices) : devices_(devices), capacity_(memory_capacity()) {}

  std::string name() const override { return "emulated CUDA"; }
  bool emulated() const override { return true; }
  int device_count() override { return devices_; }
  std::string unavailable_reason() override { return {}; }
  void set_device(int device) override { check_device(device); }

  void* malloc(size_t nbytes, int device) override {
    check_device(device);
    std::lock_guard<std::mutex> lock(mutex_);
    // Out of memory: the allocator retries. (Compared before rounding, which could wrap around.)
    if (nbytes > capacity_ - used_[device]) return nullptr;
    const size_t n = round_up(nbytes);
    if (n > capacity_ - used_[device]) return nullptr;
    void* host = std::aligned_alloc(kAlignment, n);
    if (!host) return nullptr;
    used_[device] += n;
    void* p = device_address(host, device);
    blocks_[p] = {host, n};
    return p;
  }

  void free(void* ptr, int device) override {
    if (!ptr) return;
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = blocks_.find(ptr);
    if (it == blocks_.end()) return;  // never throw from a deleter; not ours
    used_[device] -= it->second.size;
    std::free(it->second.host);
    blocks_.erase(it);
  }

  void* malloc_host(size_t nbytes) override {
    void* p = std::aligned_alloc(kAlignment, round_up(nbytes));
    TANDEM_CHECK(p, "emulated CUDA: out of host memory allocating ", nbytes, " pinned bytes");
    return p;
  }
  void free_host(void* ptr) override { std::free(ptr); }

  std::pair<size_t, size_t> memory_info(int device) override {
    check_device(device);
    std::lock_guard<std::mutex> lock(mutex_);
    return {capacity_ - used_[device], capacity_};
  }

  device::StreamHandle create_stream(int device) override {
    check_device(device);
    return new Stream{device};
  }
  void destroy_stream(device::StreamHandle s, int) override { delete static_cast<Stream*>(s); }
  // Work runs synchronously: a wait only counts.
  void synchronize_stream(device::StreamHandle) override { count_host_wait(); }
  void synchronize_device(int device) override {
    check_device(device);
    count_host_wait();
  }

  device::EventHandle create_event(int device) override {
    check_device(device);
    return new Event{device};
  }
  void destroy_event(device::EventHandle e, int) override { delete static_cast<Event*>(e); }
  void record_event(device::EventHandle e, device::StreamHandle s) override {
    TANDEM_CHECK(e && s, "emulated CUDA: record_event needs an event and a stream");
    TANDEM_CHECK(static_cast<Event*>(e)->device == static_cast<Stream*>(s)->device,
                 "emulated CUDA: an event of cuda:", static_cast<Event*>(e)->device,
                 " recorded on a stream of cuda:", static_cast<Stream*>(s)->device,
                 " (CUDA requires the same device)");
    static_cast<Event*>(e)->recorded = true;
  }
  bool event_done(device::EventHandle) override { return true; }
  void synchronize_event(device::EventHandle) override { count_host_wait(); }
  void stream_wait_event(device::StreamHandle s, device::EventHandle e) override {
    TANDEM_CHECK(e && s, "emulated CUDA: stream_wait_event needs a stream and an event");
  }

  void memcpy_async(void* dst, const void* src, size_t nbytes, device::CopyKind kind,
                    device::StreamHandle stream) override {
    TANDEM_CHECK(stream, "emulated CUDA: memcpy_async without a stream");
    if (nbytes == 0) return;
    const bool dst_dev = is_device_address(dst), src_dev = is_device_address(src);
    switch (kind) {
      case device::CopyKind::HostToDevice:
        TANDEM_CHECK(dst_dev && !src_dev, "emulated CUDA: host-to-device copy from ",
                     src_dev ? "a device" : "a host", " address to ",
                     dst_dev ? "a device" : "a host", " address");
        break;
      case device::CopyKind::DeviceToHost:
        TANDEM_CHECK(src_dev && !dst_dev, "emulated CUDA: device-to-host copy from ",
                     src_dev ? "a device" : "a host", " address to ",
                     dst_dev ? "a device" : "a host", " address");
        break;
      case device::CopyKind::DeviceToDevice:
        TANDEM_CHECK(src_dev && dst_dev,
                     "emulated CUDA: device-to-device copy with a host address");
        break;
    }
    void* d = dst_dev ? host_address(dst) : dst;
    const void* s = src_dev ? host_address(src) : src;
    std::memmove(d, s, nbytes);
  }

  void memcpy_peer_async(void* dst, int dst_device, const void* src, int src_device, size_t nbytes,
                         device::StreamHandle stream) override {
    TANDEM_CHECK(stream, "emulated CUDA: memcpy_peer_async without a stream");
    if (nbytes == 0) return;
    TANDEM_CHECK(is_device_address(dst) && device_of(dst) == dst_device && is_device_address(src) &&
                     device_of(src) == src_device,
                 "emulated CUDA: peer copy with an address not on its stated device");
    std::memmove(host_address(dst), host_address(src), nbytes);
  }

 private:
  static size_t round_up(size_t n) {
    return (std::max<size_t>(n, 1) + kAlignment - 1) / kAlignment * kAlignment;
  }
  void check_device(int device) const {
    TANDEM_CHECK(device >= 0 && device < devices_, "emulated CUDA: invalid device ordinal ", device,
                 " (", devices_, " emulated device", devices_ == 1 ? "" : "s", ")");
  }

  const int devices_;
  const size_t capacity_;
  std::mutex mutex_;
  size_t used_[kMaxDevices] = {};
  // Each device block's host memory, by device address. Keeping the untagged address here also
  // keeps the memory reachable for LeakSanitizer (memory cached until exit is not a leak).
  struct HostBlock {
    void* host;
    size_t size;
  };
  std::unordered_map<void*, HostBlock> blocks_;
};

}  // namespace

device::DeviceRuntime& runtime(int devices) {
  static EmulatedRuntime* instance = [devices] {
    TANDEM_CHECK(devices >= 1 && devices <= kMaxDevices, "TANDEM_EMULATE_CUDA: expected 1 to ",
                 kMaxDevices, " devices, got ", devices);
    return new EmulatedRuntime(devices);  // never destroyed: tensors may outlive static objects
  }();
  return *instance;
}

void* device_address(void* p, int device) {
  const uintptr_t u = reinterpret_cast<uintptr_t>(p);
  TANDEM_CHECK((u & kTagMask) == 0, "emulated CUDA: host address ", p, " above 2^48");
  return reinterpret_cast<void*>(u | ((kTagMarker | uintptr_t(device)) << kTagShift));
}

bool is_device_address(const void* p) {
  const uintptr_t u = reinterpret_cast<uintptr_t>(p);
  return ((u >> kTagShift) & 0xF0) == kTagMarker && (u >> 56) == 0;
}

int device_of(const void* p) { return int((reinterpret_cast<uintptr_t>(p) >> kTagShift) & 0x0F); }

void* host_address(const void* p) {
  if (!p) return nullptr;
  if (!is_device_address(p))
    throw Error(detail::concat(
        "emulated CUDA: ", p, " is not a device address (a host pointer reached a device kernel)"));
  return reinterpret_cast<void*>(reinterpret_cast<uintptr_t>(p) & ~kTagMask);
}

void check_launch_device(const KernelContext& ctx) {
  if (!ctx.device.is_cuda()) return;
  const int current = device::current_device();
  TANDEM_CHECK(current == ctx.device.index, "emulated CUDA: a kernel for ", ctx.device.str(),
               " launched while cuda:", current,
               " is the thread's current device (a GPU refuses it: invalid resource handle)");
}

}  // namespace tandem::kernels::emulated
