// DataLoader implementation: a producer thread keeps up to kAhead batches ready.
#include "framework/data/data_loader.h"

#include <algorithm>

#include "framework/tensor/factories.h"
#include "framework/tensor/generator.h"

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
  const Shape shape = dataset_->example_shape();
  const int64_t channels = shape.size() == 3 ? shape[0] : 1;
  if (!opts_.mean.empty() || !opts_.std.empty()) {
    TANDEM_CHECK(opts_.mean.size() == opts_.std.size(),
                 "data.mean and data.std must have the same length");
    TANDEM_CHECK(int64_t(opts_.mean.size()) == channels || opts_.mean.size() == 1, "data.mean has ",
                 opts_.mean.size(), " values but the images have ", channels, " channels");
    for (float s : opts_.std) TANDEM_CHECK(s > 0, "data.std values must be positive");
  }
  TANDEM_CHECK(opts_.random_crop_padding == 0 || shape.size() == 3,
               "random crop needs (C, H, W) examples, got ", shape_str(shape));
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

void DataLoader::fill(const std::vector<int64_t>& idx, int64_t epoch, Tensor& inputs,
                      Tensor& targets) const {
  const Shape shape = dataset_->example_shape();
  const int64_t numel = shape_numel(shape);
  const int64_t n = int64_t(idx.size());
  Shape batch_shape{n};
  batch_shape.insert(batch_shape.end(), shape.begin(), shape.end());
  // A pinned buffer is never refilled in place: the step's asynchronous copy to the device may
  // still be reading it. The pinned cache hands it out again once that copy has completed.
  if (!inputs.defined() || inputs.sizes() != batch_shape || inputs.storage().use_count() > 1 ||
      inputs.is_pinned())
    inputs = allocate(batch_shape, DType::Float32);
  if (!targets.defined() || targets.sizes() != Shape{n} || targets.storage().use_count() > 1 ||
      targets.is_pinned())
    targets = allocate({n}, DType::Int64);
  float* x = inputs.data_ptr<float>();
  int64_t* y = targets.data_ptr<int64_t>();
  const bool augment = opts_.random_crop_padding > 0 || opts_.horizontal_flip;
  std::vector<float> raw(augment ? size_t(numel) : 0);
  const int64_t channels = shape.size() == 3 ? shape[0] : 1;
  const int64_t plane = numel / channels;
  for (int64_t i = 0; i < n; ++i) {
    float* out = x + i * numel;
    if (!augment) {
      y[i] = dataset_->get(idx[size_t(i)], out);
    } else {
      y[i] = dataset_->get(idx[size_t(i)], raw.data());
      Generator gen(mix(mix(opts_.seed, uint64_t(epoch)), uint64_t(idx[size_t(i)])));
      const int64_t H = shape[1], W = shape[2], p = opts_.random_crop_padding;
      const int64_t dy = p > 0 ? int64_t(gen.random() % uint32_t(2 * p + 1)) - p : 0;
      const int64_t dx = p > 0 ? int64_t(gen.random() % uint32_t(2 * p + 1)) - p : 0;
      const bool flip = opts_.horizontal_flip && gen.uniform_float() < 0.5f;
      for (int64_t c = 0; c < channels; ++c)
        for (int64_t r = 0; r < H; ++r)
          for (int64_t col = 0; col < W; ++col) {
            const int64_t sr = r + dy;
            const int64_t sc0 = col + dx;
            const int64_t sc = flip ? W - 1 - sc0 : sc0;
            const bool inside = sr >= 0 && sr < H && sc0 >= 0 && sc0 < W;
            out[c * plane + r * W + col] = inside ? raw[size_t(c * plane + sr * W + sc)] : 0.0f;
          }
    }
    if (!opts_.mean.empty()) {
      for (int64_t c = 0; c < channels; ++c) {
        const size_t k = opts_.mean.size() == 1 ? 0 : size_t(c);
        const float m = opts_.mean[k], inv = 1.0f / opts_.std[k];
        for (int64_t j = 0; j < plane; ++j) out[c * plane + j] = (out[c * plane + j] - m) * inv;
      }
    }
  }
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
