// DevicePrefetcher: a DataLoader's batches on a CUDA device, each copied one step ahead on the
// device's input stream, so the copy of batch k+1 runs while step k's kernels do (double
// buffering, as the prefetchers of NVIDIA's PyTorch examples). On the CPU it passes batches
// through.
//
//   DevicePrefetcher batches(loader, device);   // after loader.start_epoch(...)
//   Batch b;
//   while (batches.next(b)) { ... b.inputs, b.targets on `device` ... }
//
// Ordering: the input stream waits for nothing (its copies read pinned host memory the loader
// filled, and write memory allocated from the input stream's own pool); next() makes the
// compute stream wait for the batch's copy (an event, device side: the host does not block),
// and records the batch's memory as used on the compute stream, so the allocator reuses it only
// after the step that read it. The loader's pinned buffer goes back to its cache once its copy
// has completed (the copy records its use). With pageable batches (no pinning) the runtime
// stages the copy before returning, which is correct and merely does not overlap.
#pragma once

#include "framework/data/data_loader.h"

namespace tandem::data {

class DevicePrefetcher {
 public:
  DevicePrefetcher(DataLoader& loader, Device device);
  ~DevicePrefetcher();
  DevicePrefetcher(const DevicePrefetcher&) = delete;
  DevicePrefetcher& operator=(const DevicePrefetcher&) = delete;

  // The next batch of the loader's epoch on the device, ready for the compute stream; false at
  // the end of the epoch.
  bool next(Batch& out);

 private:
  void fetch();  // takes the loader's next batch and starts its copy on the input stream

  DataLoader& loader_;
  Device device_;
  void* copied_ = nullptr;  // event: the pending batch's copy is complete (CUDA devices only)
  bool started_ = false;
  bool pending_ = false;  // next_ holds a batch whose copy was started
  Batch next_;
};

}  // namespace tandem::data
