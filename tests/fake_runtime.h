// FakeRuntime: a DeviceRuntime for the allocators' unit tests (test_caching_allocator.cpp,
// test_pinned_host_allocator.cpp). Nothing is ever dereferenced, so memory is only addresses:
//
//   - device memory: addresses from a per-device counter in a range of its own (never reused, so
//     a stale pointer cannot alias a new segment), a capacity per device (malloc returns nullptr
//     when a segment would not fit, as cudaMalloc's cudaErrorMemoryAllocation), and the live
//     segments, so a test can compare them with the allocator's reserved bytes;
//   - page-locked host memory: addresses from another counter, unlimited;
//   - streams: ids; events: a recorded event stays "not done" until the test completes the
//     stream's work (complete(stream)) or someone waits for it (synchronize_*);
//   - counts of every call the allocators make.
//
//   FakeRuntime rt(/*devices=*/2, /*capacity=*/64 << 20);
//   CachingAllocator alloc(rt);
//   StreamHandle a = rt.create_stream(0);
//   ...
//   rt.complete(b);  // the work queued on b so far has finished
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "kernels/device/runtime.h"

namespace tandem::testing {

class FakeRuntime final : public kernels::device::DeviceRuntime {
 public:
  using StreamHandle = kernels::device::StreamHandle;
  using EventHandle = kernels::device::EventHandle;

  explicit FakeRuntime(int devices = 2, size_t capacity = size_t(1) << 30)
      : capacity_(size_t(devices), capacity), used_(size_t(devices), 0) {}

  // --- controls ---------------------------------------------------------------------------------
  void set_capacity(int device, size_t bytes) { capacity_.at(size_t(device)) = bytes; }
  // Every event recorded on `stream` so far completes (its queued work has finished).
  void complete(StreamHandle stream) {
    for (Record& r : records_)
      if (r.stream == stream) r.done = true;
  }
  void complete_all() {
    for (Record& r : records_) r.done = true;
  }

  // --- observations -----------------------------------------------------------------------------
  struct Counts {
    int64_t mallocs = 0, failed_mallocs = 0, frees = 0;
    int64_t host_mallocs = 0, host_frees = 0;
    int64_t events_created = 0, events_destroyed = 0, records = 0, queries = 0, event_syncs = 0;
    int64_t copies = 0;
  };
  const Counts& counts() const { return counts_; }
  size_t used(int device) const { return used_.at(size_t(device)); }
  // The device segments handed out and not yet freed: address -> (bytes, device).
  const std::map<uintptr_t, std::pair<size_t, int>>& segments() const { return segments_; }
  size_t last_malloc_size() const { return last_malloc_; }
  size_t last_host_malloc_size() const { return last_host_malloc_; }
  size_t live_host_buffers() const { return host_.size(); }
  // Records made so far; events recorded from now on have index >= record_count().
  size_t record_count() const { return records_.size(); }
  // Whether every record in [begin, end) has completed.
  bool records_done(size_t begin, size_t end) const {
    for (size_t i = begin; i < end; ++i)
      if (!records_[i].done) return false;
    return true;
  }
  StreamHandle record_stream_of(size_t record) const { return records_.at(record).stream; }
  size_t live_events() const { return events_.size(); }

  // --- DeviceRuntime ----------------------------------------------------------------------------
  std::string name() const override { return "fake CUDA"; }
  int device_count() override { return int(capacity_.size()); }
  std::string unavailable_reason() override { return {}; }
  void set_device(int device) override { check_device(device); }

  void* malloc(size_t nbytes, int device) override {
    check_device(device);
    if (nbytes > capacity_[size_t(device)] - used_[size_t(device)]) {
      ++counts_.failed_mallocs;
      return nullptr;
    }
    // Device d's addresses start at (d + 1) << 40, aligned as cudaMalloc's (256 bytes).
    uintptr_t& next = next_device_address_[device];
    if (next == 0) next = uintptr_t(device + 1) << 40;
    const uintptr_t p = next;
    next += (nbytes + 255) / 256 * 256 + 256;  // a gap: adjacent segments are not contiguous
    used_[size_t(device)] += nbytes;
    segments_[p] = {nbytes, device};
    ++counts_.mallocs;
    last_malloc_ = nbytes;
    return reinterpret_cast<void*>(p);
  }
  void free(void* ptr, int device) override {
    auto it = segments_.find(reinterpret_cast<uintptr_t>(ptr));
    if (it == segments_.end()) {
      ADD_FAILURE() << "fake runtime: free of " << ptr << ", not a live segment";
      return;
    }
    EXPECT_EQ(it->second.second, device) << "fake runtime: segment freed on another device";
    used_[size_t(it->second.second)] -= it->second.first;
    segments_.erase(it);
    ++counts_.frees;
  }
  void* malloc_host(size_t nbytes) override {
    const uintptr_t p = next_host_address_;
    next_host_address_ += (nbytes + 255) / 256 * 256 + 256;
    host_[p] = nbytes;
    ++counts_.host_mallocs;
    last_host_malloc_ = nbytes;
    return reinterpret_cast<void*>(p);
  }
  void free_host(void* ptr) override {
    if (host_.erase(reinterpret_cast<uintptr_t>(ptr)) == 0)
      ADD_FAILURE() << "fake runtime: free_host of " << ptr << ", not a live host buffer";
    ++counts_.host_frees;
  }
  std::pair<size_t, size_t> memory_info(int device) override {
    check_device(device);
    return {capacity_[size_t(device)] - used_[size_t(device)], capacity_[size_t(device)]};
  }

  StreamHandle create_stream(int device) override {
    check_device(device);
    return reinterpret_cast<StreamHandle>(uintptr_t(0x5000 + ++streams_created_));
  }
  void destroy_stream(StreamHandle, int) override {}
  void synchronize_stream(StreamHandle stream) override { complete(stream); }
  void synchronize_device(int) override { complete_all(); }

  EventHandle create_event(int device) override {
    check_device(device);
    auto e = std::make_unique<Event>();
    e->device = device;
    EventHandle h = e.get();
    events_[h] = std::move(e);
    ++counts_.events_created;
    return h;
  }
  void destroy_event(EventHandle e, int device) override {
    auto it = events_.find(e);
    if (it == events_.end()) {
      ADD_FAILURE() << "fake runtime: destroy of an unknown event";
      return;
    }
    EXPECT_EQ(it->second->device, device) << "fake runtime: event destroyed on another device";
    events_.erase(it);
    ++counts_.events_destroyed;
  }
  void record_event(EventHandle e, StreamHandle stream) override {
    Event& ev = event(e);
    ev.record = int64_t(records_.size());
    records_.push_back({stream, false});
    ++counts_.records;
  }
  // After `successes` more event queries, one fails, as cudaEventQuery does after a sticky error.
  void fail_event_query_after(int successes) { queries_before_failure_ = successes; }
  bool event_done(EventHandle e) override {
    if (queries_before_failure_ >= 0 && queries_before_failure_-- == 0)
      throw std::runtime_error("fake runtime: event query failed");
    ++counts_.queries;
    const Event& ev = event(e);
    return ev.record < 0 || records_[size_t(ev.record)].done;  // as cudaEventQuery
  }
  void synchronize_event(EventHandle e) override {
    ++counts_.event_syncs;
    const Event& ev = event(e);
    if (ev.record >= 0) records_[size_t(ev.record)].done = true;
  }
  void stream_wait_event(StreamHandle, EventHandle e) override { event(e); }

  void memcpy_async(void*, const void*, size_t, kernels::device::CopyKind, StreamHandle) override {
    ++counts_.copies;
  }
  void memcpy_peer_async(void*, int, const void*, int, size_t, StreamHandle) override {
    ++counts_.copies;
  }

 private:
  struct Event {
    int device = 0;
    int64_t record = -1;  // index into records_ of its latest record_event
  };
  struct Record {
    StreamHandle stream;
    bool done;
  };

  void check_device(int device) const {
    if (device < 0 || device >= int(capacity_.size()))
      throw std::runtime_error("fake runtime: invalid device " + std::to_string(device));
  }
  Event& event(EventHandle e) {
    auto it = events_.find(e);
    if (it == events_.end()) throw std::runtime_error("fake runtime: unknown event");
    return *it->second;
  }

  std::vector<size_t> capacity_, used_;
  std::map<int, uintptr_t> next_device_address_;
  std::map<uintptr_t, std::pair<size_t, int>> segments_;
  uintptr_t next_host_address_ = uintptr_t(0x7f) << 40;
  std::map<uintptr_t, size_t> host_;
  std::map<EventHandle, std::unique_ptr<Event>> events_;
  std::vector<Record> records_;
  int64_t streams_created_ = 0;
  size_t last_malloc_ = 0, last_host_malloc_ = 0;
  int queries_before_failure_ = -1;
  Counts counts_;
};

}  // namespace tandem::testing
