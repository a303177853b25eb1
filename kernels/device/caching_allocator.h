// CachingAllocator: device memory for tensors without a device malloc per tensor, as PyTorch's
// CUDACachingAllocator and flashlight's: the device's memory is taken in segments and cut into
// blocks that are cached and reused once freed.
//
//   - Sizes round up to 512 bytes. Requests up to 1 MiB come from 2 MiB segments (the small
//     pool), up to 10 MiB from 20 MiB segments, larger ones get a segment of their own rounded
//     to 2 MiB (the large pool). A block bigger than the request is split; a freed block merges
//     with free neighbours of its segment.
//   - Each pool is per stream: a block returns to the pool of the stream it was allocated on,
//     so work queued on that stream is ordered before its reuse. A block also used on another
//     stream (record_stream) goes back only after events recorded on those streams at free time
//     have completed.
//   - When the device is out of memory, the allocator waits for the blocks other streams still
//     use (one may fit), then releases the cache and retries once; then an error says how much
//     was requested, allocated by tensors and reserved by the cache.
//   - Statistics (allocated, reserved, peaks, device mallocs) show that a steady-state training
//     step makes no device malloc.
//
// The bookkeeping is host code over a DeviceRuntime, so tests run it against a fake device.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "kernels/device/runtime.h"

namespace tandem::kernels::device {

struct AllocatorStats {
  size_t allocated_bytes = 0;  // held by live allocations (rounded sizes)
  size_t reserved_bytes = 0;   // taken from the device (segments)
  size_t peak_allocated_bytes = 0;
  size_t peak_reserved_bytes = 0;
  int64_t allocations = 0;     // live allocations
  int64_t device_mallocs = 0;  // segments requested from the device (runtime malloc)
  int64_t device_frees = 0;    // segments returned to the device
  int64_t alloc_retries = 0;   // allocations that released the cache and retried
  int64_t ooms = 0;            // allocations that failed after the retry
};

// One segment of device memory and the blocks it is cut into, as torch.cuda.memory_snapshot():
// for tests and for looking into fragmentation.
struct SegmentInfo {
  enum class BlockState { Allocated, Cached, AwaitingEvents };  // Cached: free, reusable now
  struct BlockInfo {
    void* ptr;
    size_t size;
    BlockState state;
  };
  int device = 0;
  StreamHandle stream = nullptr;  // the stream whose pool it belongs to
  void* ptr = nullptr;
  size_t size = 0;
  bool small_pool = false;
  std::vector<BlockInfo> blocks;  // in address order; they tile the segment
};

class CachingAllocator {
 public:
  explicit CachingAllocator(DeviceRuntime& runtime);
  ~CachingAllocator();  // returns cached segments; live allocations are left alone
  CachingAllocator(const CachingAllocator&) = delete;
  CachingAllocator& operator=(const CachingAllocator&) = delete;

  // At least nbytes (a zero-byte request gets a minimal block) usable on `stream` of `device`.
  void* allocate(size_t nbytes, int device, StreamHandle stream);
  void free(void* ptr);
  // `ptr` (a live allocation) is also used by work on `stream`: its memory is reused only after
  // that work, as torch.Tensor.record_stream. `stream` must belong to the allocation's device:
  // the event that guards the reuse is created there, and CUDA records an event only on a
  // stream of its own device (PyTorch creates it on the stream's device instead).
  void record_stream(void* ptr, StreamHandle stream);
  // Returns every cached, wholly free segment to the device.
  void empty_cache();

  AllocatorStats stats(int device) const;
  // Every segment of every device, by device and address.
  std::vector<SegmentInfo> memory_snapshot() const;
  void reset_peak_stats(int device);
  // "allocated 1.5 KiB (peak 40.0 MiB), reserved 44.0 MiB (peak 44.0 MiB), 3 device mallocs":
  // sizes in B, KiB, MiB or GiB, whichever keeps the number under 1024
  std::string summary(int device) const;

  static size_t round_size(size_t nbytes);
  static size_t segment_size(size_t rounded);  // the segment a request of that size opens

 private:
  struct Block;
  struct BlockOrder {
    bool operator()(const Block* a, const Block* b) const;
  };
  using Pool = std::set<Block*, BlockOrder>;
  struct DeviceState {
    Pool small, large;
    AllocatorStats stats;
  };

  DeviceState& state(int device);
  const DeviceState* find_state(int device) const;
  Pool& pool_for(DeviceState& st, size_t size) { return size <= kSmallSize ? st.small : st.large; }
  Block* find_free_block(Pool& pool, StreamHandle stream, size_t size);
  Block* new_segment(int device, StreamHandle stream, size_t size);  // null: out of memory
  Block* split(Block* block, size_t size);
  void release_block(Block* block);  // back to its pool, merged with free neighbours
  void process_events();             // returns blocks whose cross-stream events completed
  void synchronize_and_process_events();
  void release_cached_segments(int device);  // every wholly free segment of `device` (-1: all)
  [[noreturn]] void throw_oom(int device, size_t requested, size_t segment);

  static constexpr size_t kSmallSize = size_t(1) << 20;

  DeviceRuntime& runtime_;
  mutable std::mutex mutex_;
  std::map<int, DeviceState> devices_;
  std::unordered_map<void*, Block*> live_;
  std::vector<std::pair<EventHandle, Block*>> pending_;   // events guarding freed blocks
  std::map<int, std::vector<EventHandle>> spare_events_;  // per device, for reuse
};

// The process-wide allocator for `cuda` tensors, over cuda_runtime().
CachingAllocator& device_allocator();

}  // namespace tandem::kernels::device
