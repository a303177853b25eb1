// The caching device allocator (see caching_allocator.h).
#include "kernels/device/caching_allocator.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <iterator>

#include "kernels/common/error.h"

namespace tandem::kernels::device {

namespace {

constexpr size_t kMinBlock = 512;                  // every size is a multiple of this
constexpr size_t kSmallSegment = size_t(2) << 20;  // segments of the small pool
constexpr size_t kMediumSegment = size_t(20) << 20;
constexpr size_t kMediumLimit = size_t(10) << 20;  // larger requests get their own segment
constexpr size_t kLargeRound = size_t(2) << 20;
// A large-pool block is split only when the rest is worth keeping.
constexpr size_t kMinLargeRemainder = size_t(1) << 20;
// Larger requests are out of memory on any device (and would wrap around when rounded up).
constexpr size_t kMaxRequest = SIZE_MAX / 2;

// "512 B", "1.5 KiB", "12.0 MiB", "1.25 GiB": the unit that keeps the number under 1024, so
// small sizes do not all print as "0.0 MiB".
std::string human_bytes(size_t n) {
  if (n < 1024) return std::to_string(n) + " B";
  static const char* const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double v = double(n) / 1024;
  size_t unit = 0;
  while (v >= 1023.95 && unit + 1 < std::size(units)) {  // 1023.95 would print as 1024.0
    v /= 1024;
    ++unit;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.*f %s", unit >= 2 ? 2 : 1, v, units[unit]);
  return buf;
}

}  // namespace

struct CachingAllocator::Block {
  Block(int device_, StreamHandle stream_, size_t size_, char* ptr_, bool small_)
      : device(device_), stream(stream_), size(size_), ptr(ptr_), small(small_) {}
  int device;
  StreamHandle stream;
  size_t size;
  char* ptr;
  bool allocated = false;
  bool small;             // pool membership, fixed by its segment
  Block* prev = nullptr;  // neighbours within the segment
  Block* next = nullptr;
  std::vector<StreamHandle> stream_uses;  // other streams that used it (record_stream)
  int pending_events = 0;
};

bool CachingAllocator::BlockOrder::operator()(const Block* a, const Block* b) const {
  if (a->stream != b->stream) return std::less<StreamHandle>()(a->stream, b->stream);
  if (a->size != b->size) return a->size < b->size;
  return std::less<char*>()(a->ptr, b->ptr);
}

size_t CachingAllocator::round_size(size_t nbytes) {
  if (nbytes < kMinBlock) return kMinBlock;
  return (nbytes + kMinBlock - 1) / kMinBlock * kMinBlock;
}

size_t CachingAllocator::segment_size(size_t size) {
  if (size <= kSmallSize) return kSmallSegment;
  if (size < kMediumLimit) return kMediumSegment;
  return (size + kLargeRound - 1) / kLargeRound * kLargeRound;
}

CachingAllocator::CachingAllocator(DeviceRuntime& runtime) : runtime_(runtime) {}

CachingAllocator::~CachingAllocator() {
  try {
    std::lock_guard<std::mutex> lock(mutex_);
    synchronize_and_process_events();
    release_cached_segments(-1);
    for (auto& [device, events] : spare_events_)
      for (EventHandle e : events) runtime_.destroy_event(e, device);
  } catch (...) {  // a destructor must not throw; the process is ending anyway
  }
  // The bookkeeping of what could not be returned (segments with live allocations, blocks
  // awaiting events) goes with the allocator; their device memory is left to the process's end.
  std::set<Block*> blocks;
  for (auto& [device, st] : devices_)
    for (Pool* pool : {&st.small, &st.large}) blocks.insert(pool->begin(), pool->end());
  for (auto& [ptr, block] : live_) blocks.insert(block);
  for (auto& [event, block] : pending_) blocks.insert(block);
  for (Block* b : blocks) delete b;
}

CachingAllocator::DeviceState& CachingAllocator::state(int device) { return devices_[device]; }

const CachingAllocator::DeviceState* CachingAllocator::find_state(int device) const {
  auto it = devices_.find(device);
  return it == devices_.end() ? nullptr : &it->second;
}

CachingAllocator::Block* CachingAllocator::find_free_block(Pool& pool, StreamHandle stream,
                                                           size_t size) {
  Block key(0, stream, size, nullptr, false);
  auto it = pool.lower_bound(&key);
  if (it == pool.end() || (*it)->stream != stream) return nullptr;
  Block* block = *it;
  pool.erase(it);
  return block;
}

CachingAllocator::Block* CachingAllocator::new_segment(int device, StreamHandle stream,
                                                       size_t size) {
  const size_t seg = segment_size(size);
  void* p = runtime_.malloc(seg, device);
  if (!p) return nullptr;
  DeviceState& st = state(device);
  ++st.stats.device_mallocs;
  st.stats.reserved_bytes += seg;
  st.stats.peak_reserved_bytes = std::max(st.stats.peak_reserved_bytes, st.stats.reserved_bytes);
  return new Block(device, stream, seg, static_cast<char*>(p), size <= kSmallSize);
}

CachingAllocator::Block* CachingAllocator::split(Block* block, size_t size) {
  const size_t rest = block->size - size;
  const bool worth = block->small ? rest >= kMinBlock : rest >= kMinLargeRemainder;
  if (!worth) return block;
  Block* tail = new Block(block->device, block->stream, rest, block->ptr + size, block->small);
  tail->prev = block;
  tail->next = block->next;
  if (block->next) block->next->prev = tail;
  block->next = tail;
  block->size = size;
  DeviceState& st = state(block->device);
  (block->small ? st.small : st.large).insert(tail);
  return block;
}

void* CachingAllocator::allocate(size_t nbytes, int device, StreamHandle stream) {
  std::lock_guard<std::mutex> lock(mutex_);
  DeviceState& st = state(device);
  if (nbytes > kMaxRequest) {  // no device has that much; rounding it up would wrap around
    ++st.stats.ooms;
    throw_oom(device, nbytes, 0);
  }
  process_events();
  const size_t size = round_size(nbytes);
  Pool& pool = pool_for(st, size);
  Block* block = find_free_block(pool, stream, size);
  if (!block) block = new_segment(device, stream, size);
  if (!block) {
    // Out of memory. Blocks other streams still use come back once their events complete, and
    // one of them may fit (in a segment that cannot go back to the device); else the cache goes
    // back to the device and the allocation is retried once.
    ++st.stats.alloc_retries;
    synchronize_and_process_events();
    block = find_free_block(pool, stream, size);
    if (!block) {
      release_cached_segments(device);
      block = new_segment(device, stream, size);
    }
    if (!block) {
      ++st.stats.ooms;
      throw_oom(device, size, segment_size(size));
    }
  }
  block = split(block, size);
  block->allocated = true;
  live_[block->ptr] = block;
  st.stats.allocated_bytes += block->size;
  st.stats.peak_allocated_bytes = std::max(st.stats.peak_allocated_bytes, st.stats.allocated_bytes);
  ++st.stats.allocations;
  return block->ptr;
}

void CachingAllocator::free(void* ptr) {
  if (!ptr) return;
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = live_.find(ptr);
  TANDEM_CHECK(it != live_.end(), "caching allocator: free of ", ptr,
               ", which it did not allocate (or freed twice)");
  Block* block = it->second;
  live_.erase(it);
  block->allocated = false;
  DeviceState& st = state(block->device);
  st.stats.allocated_bytes -= block->size;
  --st.stats.allocations;
  if (block->stream_uses.empty()) {
    release_block(block);
    return;
  }
  // Other streams may still be reading or writing it: reuse waits for their work.
  for (StreamHandle s : block->stream_uses) {
    auto& spare = spare_events_[block->device];
    EventHandle e;
    if (spare.empty()) {
      e = runtime_.create_event(block->device);
    } else {
      e = spare.back();
      spare.pop_back();
    }
    runtime_.record_event(e, s);
    pending_.emplace_back(e, block);
    ++block->pending_events;
  }
  block->stream_uses.clear();
}

void CachingAllocator::record_stream(void* ptr, StreamHandle stream) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = live_.find(ptr);
  TANDEM_CHECK(it != live_.end(), "caching allocator: record_stream on ", ptr,
               ", which is not a live allocation");
  Block* block = it->second;
  if (stream == block->stream) return;  // its own stream orders every use already
  if (std::find(block->stream_uses.begin(), block->stream_uses.end(), stream) ==
      block->stream_uses.end())
    block->stream_uses.push_back(stream);
}

void CachingAllocator::release_block(Block* block) {
  DeviceState& st = state(block->device);
  Pool& pool = block->small ? st.small : st.large;
  // Merge with free neighbours (in the pool, i.e. neither allocated nor awaiting events).
  auto absorb = [&](Block* other) -> bool {
    return other && !other->allocated && other->pending_events == 0 && pool.count(other);
  };
  if (absorb(block->prev)) {
    Block* prev = block->prev;
    pool.erase(prev);
    prev->size += block->size;
    prev->next = block->next;
    if (block->next) block->next->prev = prev;
    delete block;
    block = prev;
  }
  if (absorb(block->next)) {
    Block* next = block->next;
    pool.erase(next);
    block->size += next->size;
    block->next = next->next;
    if (next->next) next->next->prev = block;
    delete next;
  }
  pool.insert(block);
}

void CachingAllocator::process_events() {
  // Compacted in place, so that an error from event_done (a sticky CUDA error after a failed
  // kernel) leaves every entry either consumed once or still listed: never released twice.
  size_t kept = 0, next = 0;
  try {
    for (; next < pending_.size();) {
      const std::pair<EventHandle, Block*> p = pending_[next];
      if (!runtime_.event_done(p.first)) {
        pending_[kept++] = p;
        ++next;
        continue;
      }
      ++next;  // consumed from here on
      spare_events_[p.second->device].push_back(p.first);
      if (--p.second->pending_events == 0) release_block(p.second);
    }
  } catch (...) {
    for (; next < pending_.size(); ++next) pending_[kept++] = pending_[next];
    pending_.resize(kept);
    throw;
  }
  pending_.resize(kept);
}

void CachingAllocator::synchronize_and_process_events() {
  for (auto& p : pending_) runtime_.synchronize_event(p.first);
  process_events();
}

void CachingAllocator::release_cached_segments(int device) {
  for (auto& [dev, st] : devices_) {
    if (device >= 0 && dev != device) continue;
    for (Pool* pool : {&st.small, &st.large}) {
      for (auto it = pool->begin(); it != pool->end();) {
        Block* b = *it;
        if (b->prev || b->next) {  // part of a segment still in use
          ++it;
          continue;
        }
        runtime_.free(b->ptr, b->device);
        st.stats.reserved_bytes -= b->size;
        ++st.stats.device_frees;
        it = pool->erase(it);
        delete b;
      }
    }
  }
}

void CachingAllocator::empty_cache() {
  std::lock_guard<std::mutex> lock(mutex_);
  synchronize_and_process_events();
  release_cached_segments(-1);
}

void CachingAllocator::throw_oom(int device, size_t requested, size_t segment) {
  const AllocatorStats& s = state(device).stats;
  // A small request that needs a new segment fails for the segment's size, not its own: say so,
  // or "tried to allocate 1.0 KiB" next to "1.0 MiB free" reads as a contradiction.
  const std::string what =
      human_bytes(requested) +
      (segment > requested ? " (in a new " + human_bytes(segment) + " segment)" : std::string());
  std::string capacity;
  try {
    const auto [free_bytes, total] = runtime_.memory_info(device);
    capacity = ", " + human_bytes(free_bytes) + " free of " + human_bytes(total);
  } catch (...) {
  }
  throw Error(runtime_.name() + " out of memory on cuda:" + std::to_string(device) +
                  ": tried to allocate " + what + "; " + human_bytes(s.allocated_bytes) +
                  " allocated by tensors, " + human_bytes(s.reserved_bytes) +
                  " reserved by tandem's caching allocator" + capacity,
              "reduce data.batch_size or the model size");
}

AllocatorStats CachingAllocator::stats(int device) const {
  std::lock_guard<std::mutex> lock(mutex_);
  const DeviceState* st = find_state(device);
  return st ? st->stats : AllocatorStats{};
}

std::vector<SegmentInfo> CachingAllocator::memory_snapshot() const {
  std::lock_guard<std::mutex> lock(mutex_);
  // Every block is live, in a pool or awaiting events; a segment starts at a block without prev.
  std::vector<const Block*> heads;
  auto add = [&](const Block* b) {
    if (!b->prev) heads.push_back(b);
  };
  for (const auto& [ptr, b] : live_) add(b);
  for (const auto& [device, st] : devices_)
    for (const Pool* pool : {&st.small, &st.large})
      for (const Block* b : *pool) add(b);
  for (const auto& [event, b] : pending_) add(b);
  auto before = [](const Block* x, const Block* y) {
    return x->device != y->device ? x->device < y->device : std::less<char*>()(x->ptr, y->ptr);
  };
  std::sort(heads.begin(), heads.end(), before);
  heads.erase(std::unique(heads.begin(), heads.end()), heads.end());

  std::vector<SegmentInfo> out;
  for (const Block* head : heads) {
    SegmentInfo s;
    s.device = head->device;
    s.stream = head->stream;
    s.ptr = head->ptr;
    s.small_pool = head->small;
    for (const Block* b = head; b; b = b->next) {
      using State = SegmentInfo::BlockState;
      const State state = b->allocated            ? State::Allocated
                          : b->pending_events > 0 ? State::AwaitingEvents
                                                  : State::Cached;
      s.blocks.push_back({b->ptr, b->size, state});
      s.size += b->size;
    }
    out.push_back(std::move(s));
  }
  return out;
}

void CachingAllocator::reset_peak_stats(int device) {
  std::lock_guard<std::mutex> lock(mutex_);
  AllocatorStats& s = state(device).stats;
  s.peak_allocated_bytes = s.allocated_bytes;
  s.peak_reserved_bytes = s.reserved_bytes;
}

std::string CachingAllocator::summary(int device) const {
  const AllocatorStats s = stats(device);
  return "allocated " + human_bytes(s.allocated_bytes) + " (peak " +
         human_bytes(s.peak_allocated_bytes) + "), reserved " + human_bytes(s.reserved_bytes) +
         " (peak " + human_bytes(s.peak_reserved_bytes) + "), " + std::to_string(s.device_mallocs) +
         (s.device_mallocs == 1 ? " device malloc" : " device mallocs");
}

CachingAllocator& device_allocator() {
  // Never destroyed: tensors held by static objects may be freed after main returns.
  static CachingAllocator* allocator = new CachingAllocator(cuda_runtime());
  return *allocator;
}

}  // namespace tandem::kernels::device
