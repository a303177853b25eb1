// Datasets and the DataLoader: Fashion-MNIST from Debian's package, synthetic data, batching,
// normalisation, deterministic augmentation, resume skipping and buffer reuse. On every device
// (DataOnDevice/*/cpu, .../cuda): the batches a training loop moves to the device, pinned from
// the pinned-memory cache on cuda with no page-locked allocation after the first epoch, and the
// DevicePrefetcher that copies them one step ahead.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <set>
#include <thread>

#include "framework/data/data_loader.h"
#include "framework/data/device_prefetcher.h"
#include "framework/data/fashion_mnist.h"
#include "framework/data/synthetic.h"
#include "framework/ops/elementwise.h"
#include "framework/tensor/factories.h"
#include "kernels/device/caching_allocator.h"
#include "kernels/device/host_allocator.h"
#include "kernels/device/runtime.h"
#include "tests/device_test.h"

using namespace tandem;
using namespace tandem::data;

namespace {
// Test pipelines: [randomcrop of the input's size after `crop_padding`] [randomhorizontalflip]
// [normalize(0.5, 0.25)].
std::shared_ptr<const TransformPipeline> transforms(int64_t crop_padding, bool flip,
                                                    bool normalise) {
  auto p = std::make_shared<TransformPipeline>();
  if (crop_padding > 0) {
    RandomCropOptions crop;
    crop.padding = {crop_padding};
    p->add(random_crop(crop));
  }
  if (flip) p->add(random_horizontal_flip());
  if (normalise) p->add(normalize({0.5f}, {0.25f}));
  return p;
}
}  // namespace

TEST(FashionMnist, LoadsDebianPackage) {
  if (!std::filesystem::exists(std::string(kFashionMnistRoot) + "/train-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  FashionMnist train(kFashionMnistRoot, "train"), test(kFashionMnistRoot, "test");
  EXPECT_EQ(train.size(), 60000);
  EXPECT_EQ(test.size(), 10000);
  Example ex;
  train.load(0, ex);
  EXPECT_EQ(ex.shape, (Shape{1, 28, 28}));
  EXPECT_EQ(ex.label, 9);  // the first training image is an ankle boot
  test.load(0, ex);
  EXPECT_EQ(ex.label, 9);
  float mx = 0;
  for (float v : ex.image) mx = std::max(mx, v);
  EXPECT_LE(mx, 1.0f);
  EXPECT_GT(mx, 0.5f);
  // Each pixel is its byte divided by 255, as torchvision's ToTensor (byte * (1/255) differs in
  // the last bit for 126 byte values, 313 of this image's 784 pixels).
  int mismatches = 0;
  for (float v : ex.image) mismatches += v != float(std::lround(v * 255.0f)) / 255.0f;
  EXPECT_EQ(mismatches, 0);
}

TEST(FashionMnist, MissingFilesNameThePackage) {
  try {
    FashionMnist ds("/nonexistent", "train");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/train-images-idx3-ubyte.gz"),
              std::string::npos);
    EXPECT_NE(e.hint().find("dataset-fashion-mnist"), std::string::npos);
  }
}

TEST(DataLoader, BatchesNormalisationAndResume) {
  auto ds = std::make_shared<SyntheticDataset>(10, Shape{1, 4, 4}, 3, 7);
  LoaderOptions opts;
  opts.batch_size = 4;
  opts.transforms = transforms(0, false, true);
  opts.prefetch = false;
  DataLoader plain(ds, opts);
  std::vector<int64_t> idx{9, 3, 5, 0, 1, 2, 4, 6, 7, 8};
  plain.start_epoch(idx, 0);
  EXPECT_EQ(plain.num_batches(), 3);
  std::vector<Batch> seen;
  Batch b;
  while (plain.next(b)) seen.push_back(Batch{b.inputs.clone(), b.targets.clone(), b.index});
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[2].inputs.size(0), 2);  // the last partial batch is kept
  EXPECT_EQ(seen[0].targets.to_vector(), (std::vector<double>{0, 0, 2, 0}));
  Example raw;
  ds->load(9, raw);
  EXPECT_FLOAT_EQ(float(seen[0].inputs.to_vector()[0]), (raw.image[0] - 0.5f) / 0.25f);

  opts.prefetch = true;
  DataLoader pre(ds, opts);
  pre.start_epoch(idx, 0, /*first_batch=*/1);  // resume after one batch
  std::vector<Batch> rest;
  while (pre.next(b)) rest.push_back(Batch{b.inputs.clone(), b.targets.clone(), b.index});
  ASSERT_EQ(rest.size(), 2u);
  EXPECT_EQ(rest[0].index, 1);
  EXPECT_TRUE(equal(rest[0].inputs, seen[1].inputs));
  EXPECT_TRUE(equal(rest[1].targets, seen[2].targets));

  opts.drop_last = true;
  DataLoader dropping(ds, opts);
  dropping.start_epoch(idx, 0);
  EXPECT_EQ(dropping.num_batches(), 2);
}

TEST(DataLoader, AugmentationIsDeterministicPerEpochAndExample) {
  auto ds = std::make_shared<SyntheticDataset>(8, Shape{1, 6, 6}, 2, 1);
  LoaderOptions opts;
  opts.batch_size = 8;
  opts.transforms = transforms(2, true, false);
  DataLoader a(ds, opts), b(ds, opts);
  Tensor xa, ya, xb, yb, xc, yc;
  std::vector<int64_t> idx{0, 1, 2, 3, 4, 5, 6, 7};
  a.fill(idx, 3, xa, ya);
  b.fill({7, 6, 5, 4, 3, 2, 1, 0}, 3, xb, yb);
  EXPECT_TRUE(equal(xa.select(0, 0), xb.select(0, 7)));  // same example, same epoch: same crop
  a.fill(idx, 4, xc, yc);
  EXPECT_FALSE(equal(xa, xc));  // a new epoch draws new crops
}

// Synthetic examples that take a millisecond to load, as decoding a file does, so that the
// worker threads (not only the thread filling the batch) load some of each batch.
class SlowSynthetic : public SyntheticDataset {
 public:
  using SyntheticDataset::SyntheticDataset;
  void load(int64_t index, Example& out) const override {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    SyntheticDataset::load(index, out);
  }
};

// Workers change who loads and transforms each example, not what a batch holds: every worker
// count gives the same batches, in sampler order, with the same random crops and flips.
TEST(DataLoader, WorkersGiveTheSameBatchesInSamplerOrder) {
  auto ds = std::make_shared<SlowSynthetic>(40, Shape{1, 6, 6}, 3, 1);
  std::vector<int64_t> idx(40);
  for (int64_t i = 0; i < 40; ++i) idx[size_t(i)] = (i * 7) % 40;
  auto epoch_batches = [&](int64_t workers) {
    LoaderOptions opts;
    opts.batch_size = 6;
    opts.workers = workers;
    opts.transforms = transforms(2, true, true);
    DataLoader loader(ds, opts);
    loader.start_epoch(idx, 2);
    std::vector<Batch> out;
    Batch b;
    while (loader.next(b)) out.push_back({b.inputs.clone(), b.targets.clone()});
    return out;
  };
  const auto serial = epoch_batches(0);
  ASSERT_EQ(serial.size(), 7u);
  for (int64_t workers : {1, 2, 5}) {
    const auto parallel = epoch_batches(workers);
    ASSERT_EQ(parallel.size(), serial.size()) << workers << " workers";
    for (size_t i = 0; i < serial.size(); ++i) {
      EXPECT_TRUE(equal(parallel[i].inputs, serial[i].inputs))
          << workers << " workers, batch " << i;
      EXPECT_TRUE(equal(parallel[i].targets, serial[i].targets))
          << workers << " workers, batch " << i;
    }
  }
}

TEST(DataLoader, SteadyStateReusesBuffers) {
  auto ds = std::make_shared<SyntheticDataset>(64, Shape{8}, 2, 1);
  LoaderOptions opts;
  opts.batch_size = 8;
  DataLoader loader(ds, opts);
  std::vector<int64_t> idx(64);
  for (int64_t i = 0; i < 64; ++i) idx[size_t(i)] = i;
  loader.start_epoch(idx, 0);
  Batch b;
  std::set<void*> buffers;
  while (loader.next(b)) buffers.insert(b.inputs.storage()->data());
  EXPECT_LE(buffers.size(), 4u);  // a few buffers cycle, not one per batch
}

// Pinned batches are not refilled in place (the step's copy to the device may still read them):
// the pinned-memory cache recycles them once that copy is done, so consecutive batches use
// different buffers and after the first epoch no page-locked memory is allocated.
TEST(DataLoader, PinnedBatchesAreRecycledThroughThePinnedCache) {
  if (kernels::device::cuda_runtime().device_count() == 0)
    GTEST_SKIP() << "no CUDA device (real or emulated) to pin memory with";
  auto ds = std::make_shared<SyntheticDataset>(40, Shape{1, 4, 4}, 3, 5);
  std::vector<int64_t> idx(40);
  for (int64_t i = 0; i < 40; ++i) idx[size_t(i)] = i;
  LoaderOptions opts;
  opts.batch_size = 8;
  opts.pin_memory = true;
  opts.prefetch = false;  // a deterministic number of buffers in flight
  DataLoader loader(ds, opts);
  auto& pinned = kernels::device::pinned_host_allocator();
  int64_t after_first = 0;
  for (int64_t epoch = 0; epoch < 3; ++epoch) {
    loader.start_epoch(idx, epoch);
    Batch b;
    void* previous = nullptr;
    while (loader.next(b)) {
      ASSERT_TRUE(b.inputs.is_pinned());
      EXPECT_NE(b.inputs.storage()->data(), previous) << "a pinned batch refilled in place";
      previous = b.inputs.storage()->data();
      const Tensor on_device = b.inputs.to(Device("cuda:0"));  // records the copy's use
      // Until the copy has run the cache rightly allocates another buffer (a GPU, or the
      // emulated device's asynchronous streams, may still be copying): wait, for a fixed count.
      kernels::device::cuda_runtime().synchronize_device(0);
    }
    if (epoch == 0) after_first = pinned.host_mallocs();
  }
  EXPECT_EQ(pinned.host_mallocs(), after_first);
}

// pin_memory: batches land in page-locked memory when CUDA can pin (a device is present);
// otherwise the loader falls back to ordinary memory. Either way the batches are the same.
TEST(DataLoader, PinMemoryKeepsBatchesAndFallsBackWithoutCuda) {
  auto ds = std::make_shared<SyntheticDataset>(20, Shape{1, 4, 4}, 3, 5);
  std::vector<int64_t> idx(20);
  for (int64_t i = 0; i < 20; ++i) idx[size_t(i)] = 19 - i;
  LoaderOptions opts;
  opts.batch_size = 6;
  DataLoader plain(ds, opts);
  opts.pin_memory = true;
  DataLoader pinned(ds, opts);
  plain.start_epoch(idx, 1);
  pinned.start_epoch(idx, 1);
  Batch a, b;
  int batches = 0;
  while (plain.next(a)) {
    ASSERT_TRUE(pinned.next(b));
    EXPECT_TRUE(equal(a.inputs, b.inputs));
    EXPECT_TRUE(equal(a.targets, b.targets));
    EXPECT_EQ(b.inputs.is_pinned(), pinned.pins_memory());
    EXPECT_FALSE(a.inputs.is_pinned());
    ++batches;
  }
  EXPECT_EQ(batches, 4);
  EXPECT_FALSE(pinned.next(b));
  if (kernels::device::cuda_runtime().device_count() > 0) {
    EXPECT_TRUE(pinned.pins_memory()) << "a CUDA device is present, so pinning should work";
  } else {
    EXPECT_FALSE(pinned.pins_memory());  // no driver/device: ordinary memory, same batches
  }
}

TEST(DataLoader, EmptyPinnedNeedsCuda) {
  if (kernels::device::cuda_runtime().device_count() == 0) {
    EXPECT_THROW(empty_pinned({4}), std::exception);
    GTEST_SKIP() << "no CUDA device: page-locked allocation is not available";
  }
  Tensor t = empty_pinned({4, 3}, DType::Float64);
  EXPECT_TRUE(t.is_pinned());
  EXPECT_TRUE(t.device().is_cpu());
  EXPECT_EQ(t.sizes(), (Shape{4, 3}));
}

// ---- on a device ------------------------------------------------------------------------------

class DataOnDevice : public tandem::testing::DeviceTest {};

// The trainer's use: pin_memory when the device is cuda, each batch moved with to(device) while
// the loader prefetches the next ones. On cuda the batches are page-locked and come from the
// pinned cache: the first epoch fills it (the short last batch included) and later epochs reuse
// it rather than pinning per batch. On the device they equal the unpinned CPU batches.
TEST_P(DataOnDevice, PinnedBatchesFromTheCacheWithoutPinningPerBatch) {
  auto ds = std::make_shared<SyntheticDataset>(44, Shape{1, 4, 4}, 3, 6);
  LoaderOptions opts;
  opts.batch_size = 8;  // 5 full batches and one of 4
  opts.transforms = transforms(0, true, true);
  DataLoader plain(ds, opts);
  opts.pin_memory = device().is_cuda();
  DataLoader loader(ds, opts);
  auto& pinned = kernels::device::pinned_host_allocator();
  const int64_t mallocs_before = pinned.host_mallocs();
  int64_t mallocs_after_first_epoch = -1;
  std::vector<int64_t> idx(44);
  for (int64_t epoch = 0; epoch < 3; ++epoch) {
    for (int64_t i = 0; i < 44; ++i) idx[size_t(i)] = (i * 7 + epoch * 5) % 44;
    plain.start_epoch(idx, epoch);
    loader.start_epoch(idx, epoch);
    Batch a, b;
    int batches = 0;
    while (loader.next(b)) {
      ASSERT_TRUE(plain.next(a));
      EXPECT_EQ(b.inputs.is_pinned(), device().is_cuda());
      EXPECT_EQ(b.targets.is_pinned(), device().is_cuda());
      const Tensor x = b.inputs.to(device()), y = b.targets.to(device());
      EXPECT_EQ(x.device(), device());
      EXPECT_TRUE(equal(x.cpu(), a.inputs)) << "epoch " << epoch << " batch " << batches;
      EXPECT_TRUE(equal(y.cpu(), a.targets)) << "epoch " << epoch << " batch " << batches;
      ++batches;
    }
    EXPECT_EQ(batches, 6);
    if (epoch == 0) mallocs_after_first_epoch = pinned.host_mallocs();
  }
  EXPECT_EQ(loader.pins_memory(), device().is_cuda());
  if (device().is_cuda()) {
    EXPECT_GT(mallocs_after_first_epoch, mallocs_before);  // the batches did come from the cache
  }
  // How many batches are in flight at once (up to kAhead ready, one filling, one in the step, one
  // still being copied) depends on how the producer and the consumer interleave, so a later epoch
  // may add a buffer pair the first did not need; pinning per batch would add 24 tensors here.
  EXPECT_LE(pinned.host_mallocs() - mallocs_after_first_epoch, 4)
      << "epochs after the first pinned memory per batch";
}

// DevicePrefetcher, as the trainer and evaluation use it: the loader's batches, in order, on the
// device (copied one step ahead on cuda's input stream), equal to the CPU batches; after the first
// epoch no device memory is requested; a prefetcher dropped mid-epoch (a step limit, a stop)
// leaves the next epoch intact.
TEST_P(DataOnDevice, PrefetcherDeliversTheLoadersBatchesOnTheDevice) {
  auto ds = std::make_shared<SyntheticDataset>(44, Shape{1, 4, 4}, 3, 6);
  LoaderOptions opts;
  opts.batch_size = 8;  // 5 full batches and one of 4
  opts.transforms = transforms(0, false, true);
  DataLoader plain(ds, opts);
  opts.pin_memory = device().is_cuda();
  DataLoader loader(ds, opts);
  std::vector<int64_t> idx(44);
  int64_t device_mallocs_after_first_epoch = -1;
  auto device_mallocs = [&] {
    return device().is_cuda()
               ? kernels::device::device_allocator().stats(device().index).device_mallocs
               : 0;
  };
  for (int64_t epoch = 0; epoch < 4; ++epoch) {
    for (int64_t i = 0; i < 44; ++i) idx[size_t(i)] = (i * 7 + epoch * 5) % 44;
    plain.start_epoch(idx, epoch);
    loader.start_epoch(idx, epoch);
    DevicePrefetcher batches(loader, device());
    Batch a, b;
    int n = 0;
    const int limit = epoch == 2 ? 2 : 100;  // epoch 2 stops after two steps
    while (n < limit && batches.next(b)) {
      ASSERT_TRUE(plain.next(a));
      EXPECT_EQ(b.inputs.device(), device());
      EXPECT_EQ(b.targets.device(), device());
      EXPECT_EQ(b.index, a.index);
      EXPECT_TRUE(equal(b.inputs.cpu(), a.inputs)) << "epoch " << epoch << " batch " << n;
      EXPECT_TRUE(equal(b.targets.cpu(), a.targets)) << "epoch " << epoch << " batch " << n;
      ++n;
    }
    EXPECT_EQ(n, epoch == 2 ? 2 : 6);
    if (epoch == 0) device_mallocs_after_first_epoch = device_mallocs();
  }
  EXPECT_EQ(device_mallocs(), device_mallocs_after_first_epoch)
      << "epochs after the first requested device memory for their batches";
}

TANDEM_INSTANTIATE_DEVICE_TEST(DataOnDevice);
