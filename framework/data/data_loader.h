// DataLoader: turns one rank's index list for an epoch into batches (inputs float32 N x shape;
// targets int64 N, or N x H x W masks for segmentation), each example loaded and transformed
// (data/transforms.h) on `workers` threads, filled by a background thread a few batches ahead.
// Batches keep the order of the indices whatever the number of workers. Batch buffers are recycled
// once the training step has released them (pinned ones through the pinned-memory cache, once their
// copy to the device has completed), so the steady state allocates nothing. Random transforms draw
// from a generator seeded by (seed, epoch, example index): the data a step sees does not depend on
// resume points, workers or prefetch timing.
//
//   DataLoader loader(dataset, opts);
//   loader.start_epoch(indices, epoch);
//   Batch b;
//   while (loader.next(b)) { ... b.inputs, b.targets ... }
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "framework/data/dataset.h"
#include "framework/data/transforms.h"
#include "framework/data/worker_pool.h"

namespace tandem::data {

struct Batch {
  Tensor inputs;      // float32 (N, C, H, W) or (N, features)
  Tensor targets;     // int64 (N), or (N, H, W) for segmentation
  int64_t index = 0;  // batch number within the epoch
};

struct LoaderOptions {
  int64_t batch_size = 64;
  bool drop_last = false;
  // Applied to each example after loading (none: the examples as the dataset stores them).
  std::shared_ptr<const TransformPipeline> transforms;
  bool prefetch = true;  // fill batches on a background thread
  // Threads that load and transform a batch's examples (0: the filling thread alone).
  int64_t workers = 0;
  // Batches in page-locked memory, for training on a CUDA device (PyTorch's pin_memory). Where
  // CUDA cannot pin (no driver, built without CUDA) the loader uses ordinary memory instead.
  bool pin_memory = false;
  uint64_t seed = 0;
};

class DataLoader {
 public:
  DataLoader(std::shared_ptr<const Dataset> dataset, LoaderOptions options);
  ~DataLoader();
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  // Starts an epoch over `indices`, skipping the first `first_batch` batches (for resume).
  void start_epoch(std::vector<int64_t> indices, int64_t epoch, int64_t first_batch = 0);
  int64_t num_batches() const;
  bool next(Batch& out);  // false at the end of the epoch
  const Dataset& dataset() const { return *dataset_; }
  // Whether batches are in pinned memory (pin_memory was asked for and CUDA could pin).
  bool pins_memory() const { return opts_.pin_memory && !pinning_failed_; }

  // Fills one batch for examples `indices` directly (used by next() and by tests).
  void fill(const std::vector<int64_t>& indices, int64_t epoch, Tensor& inputs,
            Tensor& targets) const;

 private:
  void stop();
  void produce();
  bool make_batch(int64_t b, Batch& out);

  Tensor allocate(const Shape& shape, DType dtype) const;
  // Loads and transforms example `index` into `ex`.
  void load_example(int64_t index, int64_t epoch, Example& ex) const;

  std::shared_ptr<const Dataset> dataset_;
  LoaderOptions opts_;
  std::unique_ptr<WorkerPool>
      workers_;  // opts_.workers threads; fill() runs on one thread at a time
  mutable std::atomic<bool> pinning_failed_{false};
  std::vector<int64_t> indices_;
  int64_t epoch_ = 0;
  int64_t next_batch_ = 0;  // consumer position
  int64_t end_batch_ = 0;
  std::vector<Batch> pool_;  // recycled buffers

  std::thread worker_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Batch> ready_;
  int64_t produced_ = 0;
  bool stopping_ = false;
  std::exception_ptr error_;
};

}  // namespace tandem::data
