// DataLoader implementation: a producer thread keeps up to kAhead batches ready.
#include "framework/data/data_loader.h"

#include <algorithm>
#include <string>

#include "framework/tensor/factories.h"
#include "framework/tensor/generator.h"
#include "kernels/cpu/threads.h"

namespace tandem::data {
namespace {
constexpr size_t kAhead = 2;

uint64_t mix(uint64_t a, uint64_t b) {  // splitmix-style combination for per-example seeds
  uint64_t z = a * 0x9e3779b97f4a7c15ULL + b + 0x632be59bd9b4e019ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
}  // namespace

DataLoader::DataLoader(std::shared_ptr<const Dataset> dataset, LoaderOptions options)
    : dataset_(std::move(dataset)), opts_(std::move(options)) {
  TANDEM_CHECK(opts_.batch_size > 0, "data.batch_size must be positive, got ", opts_.batch_size);
  TANDEM_CHECK(opts_.workers >= 0, "data.workers must be >= 0, got ", opts_.workers);
  if (opts_.workers > 0) workers_ = std::make_unique<WorkerPool>(opts_.workers);
}

DataLoader::~DataLoader() { stop(); }

int64_t DataLoader::num_batches() const {
  const int64_t n = int64_t(indices_.size());
  return opts_.drop_last ? n / opts_.batch_size : (n + opts_.batch_size - 1) / opts_.batch_size;
}

void DataLoader::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
  for (auto& b : ready_) pool_.push_back(std::move(b));
  ready_.clear();
  stopping_ = false;
}

void DataLoader::start_epoch(std::vector<int64_t> indices, int64_t epoch, int64_t first_batch) {
  TANDEM_CHECK(first_batch >= 0, "data loader: negative first batch ", first_batch);
  stop();
  for (int64_t i : indices)
    TANDEM_CHECK(i >= 0 && i < dataset_->size(), "data loader: index ", i, " out of range for ",
                 dataset_->name(), " of size ", dataset_->size());
  indices_ = std::move(indices);
  epoch_ = epoch;
  end_batch_ = num_batches();
  next_batch_ = std::min(first_batch, end_batch_);
  produced_ = next_batch_;
  error_ = nullptr;
  if (opts_.prefetch) worker_ = std::thread([this] { produce(); });
}

Tensor DataLoader::allocate(const Shape& shape, DType dtype) const {
  if (pins_memory()) {
    try {
      return empty_pinned(shape, dtype);
    } catch (const std::exception&) {
      pinning_failed_ = true;  // no CUDA to pin with: ordinary memory from now on
    }
  }
  return empty(shape, TensorOptions(dtype));
}

void DataLoader::load_example(int64_t index, int64_t epoch, Example& ex) const {
  dataset_->load(index, ex);
  if (!opts_.transforms || opts_.transforms->empty()) return;
  Generator gen(mix(mix(opts_.seed, uint64_t(epoch)), uint64_t(index)));
  try {
    opts_.transforms->apply(ex, gen);
  } catch (const Error& e) {
    throw Error(dataset_->describe(index) + ": " + e.what(), e.hint());
  }
}

void DataLoader::fill(const std::vector<int64_t>& idx, int64_t epoch, Tensor& inputs,
                      Tensor& targets) const {
  const int64_t n = int64_t(idx.size());
  TANDEM_CHECK(n > 0, "data loader: an empty batch");
  // The first example fixes the batch's shapes; every other must match them.
  // (A named reference, not the thread_local itself, so that the worker threads' `store` calls
  // below see this thread's example rather than their own empty one.)
  thread_local Example first_example;
  Example& first = first_example;
  load_example(idx[0], epoch, first);
  const bool masks = dataset_->segmentation();
  TANDEM_CHECK(!masks || first.has_mask(), dataset_->describe(idx[0]), ": no mask");
  Shape batch_shape{n};
  batch_shape.insert(batch_shape.end(), first.shape.begin(), first.shape.end());
  const Shape target_shape = masks ? Shape{n, first.mask_height, first.mask_width} : Shape{n};
  // A pinned buffer is never refilled in place: the step's asynchronous copy to the device may
  // still be reading it. The pinned cache hands it out again once that copy has completed.
  if (!inputs.defined() || inputs.sizes() != batch_shape || inputs.storage().use_count() > 1 ||
      inputs.is_pinned())
    inputs = allocate(batch_shape, DType::Float32);
  if (!targets.defined() || targets.sizes() != target_shape || targets.storage().use_count() > 1 ||
      targets.is_pinned())
    targets = allocate(target_shape, DType::Int64);
  float* x = inputs.data_ptr<float>();
  int64_t* y = targets.data_ptr<int64_t>();
  const int64_t numel = int64_t(first.image.size());
  const int64_t target_numel = masks ? first.mask_height * first.mask_width : 1;

  auto store = [&](int64_t i, const Example& ex) {
    if (ex.shape != first.shape || int64_t(ex.image.size()) != numel)
      throw Error(dataset_->describe(idx[size_t(i)]) + ": an example of shape " +
                      shape_str(ex.shape) + " in a batch of " + shape_str(first.shape) +
                      " examples (from " + dataset_->describe(idx[0]) + ")",
                  "examples of different sizes need a resize or crop transform "
                  "(data.train_transforms / data.val_transforms) that makes them one size");
    std::copy(ex.image.begin(), ex.image.end(), x + i * numel);
    if (!masks) {
      y[i] = ex.label;
      return;
    }
    if (ex.mask_height * ex.mask_width != target_numel || ex.mask_height != first.mask_height)
      throw Error(dataset_->describe(idx[size_t(i)]) + ": a mask of " +
                  std::to_string(ex.mask_height) + "x" + std::to_string(ex.mask_width) +
                  " in a batch of " + std::to_string(first.mask_height) + "x" +
                  std::to_string(first.mask_width) + " masks");
    std::copy(ex.mask.begin(), ex.mask.end(), y + i * target_numel);
  };
  store(0, first);
  auto job = [&](int64_t k) {
    thread_local Example ex;
    load_example(idx[size_t(k + 1)], epoch, ex);
    store(k + 1, ex);
  };
  if (workers_)
    workers_->run(n - 1, job);
  else
    for (int64_t k = 0; k + 1 < n; ++k) job(k);
  inputs.bump_version();
  targets.bump_version();
}

bool DataLoader::make_batch(int64_t b, Batch& out) {
  const int64_t begin = b * opts_.batch_size;
  const int64_t end = std::min<int64_t>(begin + opts_.batch_size, int64_t(indices_.size()));
  std::vector<int64_t> idx(indices_.begin() + begin, indices_.begin() + end);
  fill(idx, epoch_, out.inputs, out.targets);
  out.index = b;
  return true;
}

void DataLoader::produce() {
  // Batches are prepared beside the training step, not with its compute threads: this thread's
  // tensor kernels stay on it (the step's kernels use training.threads).
  kernels::cpu::limit_this_thread_to_one_cpu();
  try {
    while (true) {
      Batch batch;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return stopping_ || ready_.size() < kAhead; });
        if (stopping_ || produced_ >= end_batch_) return;
        // Reuse a pooled buffer the training step no longer references.
        for (size_t i = 0; i < pool_.size(); ++i) {
          if (pool_[i].inputs.storage().use_count() == 1 &&
              pool_[i].targets.storage().use_count() == 1) {
            batch = std::move(pool_[i]);
            pool_.erase(pool_.begin() + ptrdiff_t(i));
            break;
          }
        }
      }
      make_batch(produced_, batch);
      {
        std::lock_guard<std::mutex> lock(mu_);
        ready_.push_back(std::move(batch));
        ++produced_;
      }
      cv_.notify_all();
    }
  } catch (...) {
    std::lock_guard<std::mutex> lock(mu_);
    error_ = std::current_exception();
    cv_.notify_all();
  }
}

bool DataLoader::next(Batch& out) {
  if (next_batch_ >= end_batch_) return false;
  if (!opts_.prefetch) {
    make_batch(next_batch_++, out);
    return true;
  }
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return !ready_.empty() || error_; });
  if (error_) std::rethrow_exception(error_);
  // Hand the previous batch's buffers back to the pool before taking the next.
  if (out.inputs.defined()) pool_.push_back(std::move(out));
  out = std::move(ready_.front());
  ready_.pop_front();
  ++next_batch_;
  lock.unlock();
  cv_.notify_all();
  return true;
}

}  // namespace tandem::data
