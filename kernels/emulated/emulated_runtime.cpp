// The emulated CUDA runtime (see emulated_runtime.h).
#include "kernels/emulated/emulated_runtime.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "kernels/common/error.h"
#include "kernels/device/context.h"
#include "kernels/emulated/emulated_kernel.h"
#include "kernels/emulated/emulated_stream.h"

namespace tandem::kernels::emulated {

namespace {

constexpr uintptr_t kTagShift = 48;
constexpr uintptr_t kTagMask = uintptr_t(0xFF) << kTagShift;
constexpr uintptr_t kTagMarker = 0xA0;  // high nibble of the tag byte; low nibble: device
constexpr size_t kAlignment = 256;      // cudaMalloc's alignment

// A stream handle: its EmulatedStream, shared with the events recorded on it.
struct Stream {
  std::shared_ptr<EmulatedStream> queue;
};
// An event: where in which stream's queue it was last recorded (none: complete, as CUDA's).
struct Event {
  int device;
  std::shared_ptr<EmulatedStream> stream;
  uint64_t position = 0;
};

EmulatedStream& queue_of(device::StreamHandle s) { return *static_cast<Stream*>(s)->queue; }

// Drains every stream when the thread that queued work ends, or calls exit: a thread's
// thread_local objects are destroyed before any static object, so queued kernels run before the
// libraries they call (oneDNN's primitive cache, OpenBLAS) are torn down at exit.
struct DrainAtThreadExit {
  ~DrainAtThreadExit();
};
void drain_when_this_thread_exits() {
  static thread_local DrainAtThreadExit drain;
  (void)drain;
}

// TANDEM_EMULATED_STREAMS: "async" (default) gives each stream a worker thread, as a GPU runs
// streams (emulated_stream.h); "sync" runs work at once on the calling thread, so a kernel's
// error is thrown at its call (for debugging).
bool async_streams_setting() {
  const char* v = std::getenv("TANDEM_EMULATED_STREAMS");
  if (!v || !*v || std::string(v) == "async") return true;
  if (std::string(v) == "sync") return false;
  throw Error(std::string("TANDEM_EMULATED_STREAMS='") + v + "' is not async or sync",
              "unset it (async: each emulated stream runs on its own thread, as on a GPU), or set "
              "it to sync to run kernels at their call");
}

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
  explicit EmulatedRuntime(int devices)
      : devices_(devices), capacity_(memory_capacity()), async_(async_streams_setting()) {}

  bool async() const { return async_; }

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
    drain_all_streams();  // cudaFree waits for the device: queued work may still use the block
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = blocks_.find(ptr);
    if (it == blocks_.end()) return;  // never throw from a deleter; not ours
    used_[device] -= it->second.size;
    std::free(it->second.host);
    blocks_.erase(it);
  }

  void* malloc_host(size_t nbytes) override {
    const size_t n = round_up(nbytes);
    void* p = std::aligned_alloc(kAlignment, n);
    TANDEM_CHECK(p, "emulated CUDA: out of host memory allocating ", nbytes, " pinned bytes");
    std::lock_guard<std::mutex> lock(mutex_);
    pinned_[reinterpret_cast<uintptr_t>(p)] = n;
    return p;
  }
  void free_host(void* ptr) override {
    if (!ptr) return;
    drain_all_streams();  // as cudaFreeHost
    {
      std::lock_guard<std::mutex> lock(mutex_);
      pinned_.erase(reinterpret_cast<uintptr_t>(ptr));
    }
    std::free(ptr);
  }

  std::pair<size_t, size_t> memory_info(int device) override {
    check_device(device);
    std::lock_guard<std::mutex> lock(mutex_);
    return {capacity_ - used_[device], capacity_};
  }

  device::StreamHandle create_stream(int device) override {
    check_device(device);
    auto* s = new Stream{std::make_shared<EmulatedStream>(device, async_)};
    std::lock_guard<std::mutex> lock(mutex_);
    streams_.push_back(s->queue);
    return s;
  }
  void destroy_stream(device::StreamHandle s, int) override {
    if (!s) return;
    // Run out its queue first: the drains (free, synchronize_device) no longer see it once it
    // leaves streams_, and a worker that drops the last reference to it then joins an idle thread.
    EmulatedStream& queue = queue_of(s);
    queue.wait_until(queue.position(), /*host=*/false);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      std::erase(streams_, static_cast<Stream*>(s)->queue);
    }
    delete static_cast<Stream*>(s);
  }
  void synchronize_stream(device::StreamHandle s) override {
    TANDEM_CHECK(s, "emulated CUDA: synchronize_stream without a stream");
    count_host_wait();
    queue_of(s).synchronize();
  }
  void synchronize_device(int device) override {
    check_device(device);
    count_host_wait();
    // Every stream runs out before a deferred error is thrown: the caller may free memory next.
    std::exception_ptr first;
    for (const auto& q : streams_snapshot())
      if (q->device() == device) try {
          q->synchronize();
        } catch (...) {
          if (!first) first = std::current_exception();
        }
    if (first) std::rethrow_exception(first);
  }

  device::EventHandle create_event(int device) override {
    check_device(device);
    return new Event{device, nullptr, 0};
  }
  void destroy_event(device::EventHandle e, int) override { delete static_cast<Event*>(e); }
  void record_event(device::EventHandle e, device::StreamHandle s) override {
    TANDEM_CHECK(e && s, "emulated CUDA: record_event needs an event and a stream");
    Event& event = *static_cast<Event*>(e);
    EmulatedStream& queue = queue_of(s);
    TANDEM_CHECK(event.device == queue.device(), "emulated CUDA: an event of cuda:", event.device,
                 " recorded on a stream of cuda:", queue.device(),
                 " (CUDA requires the same device)");
    std::lock_guard<std::mutex> lock(events_mutex_);
    event.stream = static_cast<Stream*>(s)->queue;
    event.position = queue.position();
  }
  bool event_done(device::EventHandle e) override {
    const auto [stream, position] = recorded(e);
    return !stream || stream->reached(position);
  }
  // A kernel's deferred error is not reported here but at the stream's synchronisation: the
  // allocators wait for events in the middle of their bookkeeping.
  void synchronize_event(device::EventHandle e) override {
    count_host_wait();
    const auto [stream, position] = recorded(e);
    if (stream) stream->wait_until(position, /*host=*/false);
  }
  void stream_wait_event(device::StreamHandle s, device::EventHandle e) override {
    TANDEM_CHECK(e && s, "emulated CUDA: stream_wait_event needs a stream and an event");
    // (Not a structured binding: clang 14 cannot capture one.)
    std::pair<std::shared_ptr<EmulatedStream>, uint64_t> at = recorded(e);
    EmulatedStream& waiter = queue_of(s);
    // The waiting stream's worker blocks until the event's position has run (on the device).
    if (async_ && at.first && at.first.get() != &waiter)
      waiter.enqueue([at = std::move(at)] { at.first->wait_until(at.second, /*host=*/false); });
  }

  void memcpy_async(void* dst, const void* src, size_t nbytes, device::CopyKind kind,
                    device::StreamHandle stream) override {
    TANDEM_CHECK(stream, "emulated CUDA: memcpy_async without a stream");
    drain_when_this_thread_exits();
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
    EmulatedStream& queue = queue_of(stream);
    if (!async_) {
      std::memmove(d, s, nbytes);
      return;
    }
    // As cudaMemcpyAsync with pageable host memory: the source is read before the call returns
    // (host to device), or the call returns once the copy has run (device to host). Pinned
    // memory is read and written when the stream gets there.
    if (kind == device::CopyKind::HostToDevice && !is_pinned(s, nbytes)) {
      auto staged = std::make_shared<std::vector<char>>(static_cast<const char*>(s),
                                                        static_cast<const char*>(s) + nbytes);
      queue.enqueue([d, staged] { std::memcpy(d, staged->data(), staged->size()); });
      return;
    }
    queue.enqueue([d, s, nbytes] { std::memmove(d, s, nbytes); });
    if (kind == device::CopyKind::DeviceToHost && !is_pinned(d, nbytes)) queue.synchronize();
  }

  void memcpy_peer_async(void* dst, int dst_device, const void* src, int src_device, size_t nbytes,
                         device::StreamHandle stream) override {
    TANDEM_CHECK(stream, "emulated CUDA: memcpy_peer_async without a stream");
    drain_when_this_thread_exits();
    if (nbytes == 0) return;
    TANDEM_CHECK(is_device_address(dst) && device_of(dst) == dst_device && is_device_address(src) &&
                     device_of(src) == src_device,
                 "emulated CUDA: peer copy with an address not on its stated device");
    void* d = host_address(dst);
    const void* s = host_address(src);
    queue_of(stream).enqueue([d, s, nbytes] { std::memmove(d, s, nbytes); });
  }

  // Waits for every stream's queued work, not counted as a host wait (CUDA's implicit
  // synchronisation in cudaFree and cudaFreeHost; and at exit).
  void drain_all_streams() {
    if (!async_) return;
    for (const auto& q : streams_snapshot()) q->wait_until(q->position(), /*host=*/false);
  }

 private:
  static size_t round_up(size_t n) {
    return (std::max<size_t>(n, 1) + kAlignment - 1) / kAlignment * kAlignment;
  }
  void check_device(int device) const {
    TANDEM_CHECK(device >= 0 && device < devices_, "emulated CUDA: invalid device ordinal ", device,
                 " (", devices_, " emulated device", devices_ == 1 ? "" : "s", ")");
  }

  std::vector<std::shared_ptr<EmulatedStream>> streams_snapshot() {
    std::lock_guard<std::mutex> lock(mutex_);
    return streams_;
  }
  std::pair<std::shared_ptr<EmulatedStream>, uint64_t> recorded(device::EventHandle e) {
    TANDEM_CHECK(e, "emulated CUDA: no event");
    std::lock_guard<std::mutex> lock(events_mutex_);
    const Event& event = *static_cast<Event*>(e);
    return {event.stream, event.position};
  }
  // Whether [p, p + n) lies in one block from malloc_host (pinned memory).
  bool is_pinned(const void* p, size_t n) {
    const auto u = reinterpret_cast<uintptr_t>(p);
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = pinned_.upper_bound(u);
    if (it == pinned_.begin()) return false;
    --it;
    return u + n <= it->first + it->second;
  }

  const int devices_;
  const size_t capacity_;
  const bool async_;
  std::mutex mutex_;
  std::vector<std::shared_ptr<EmulatedStream>> streams_;  // every live stream
  std::map<uintptr_t, size_t> pinned_;                    // malloc_host's blocks: start, size
  std::mutex events_mutex_;
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
    return new EmulatedRuntime(devices);  // never destroyed: tensors may outlive statics
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

namespace {
DrainAtThreadExit::~DrainAtThreadExit() {
  static_cast<EmulatedRuntime&>(runtime(1)).drain_all_streams();
}
}  // namespace

bool streams_are_async() { return static_cast<EmulatedRuntime&>(runtime(1)).async(); }

void enqueue(device::StreamHandle stream, std::function<void()> work) {
  TANDEM_CHECK(stream, "emulated CUDA: a kernel launched without a stream");
  drain_when_this_thread_exits();
  queue_of(stream).enqueue(std::move(work));
}

void check_launch_device(const KernelContext& ctx) {
  if (!ctx.device.is_cuda()) return;
  const int current = device::current_device();
  TANDEM_CHECK(current == ctx.device.index, "emulated CUDA: a kernel for ", ctx.device.str(),
               " launched while cuda:", current,
               " is the thread's current device (a GPU refuses it: invalid resource handle)");
}

}  // namespace tandem::kernels::emulated
