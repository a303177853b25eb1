// Training steps on a device (TrainingOnDevice/*/cpu, .../cuda): a small CNN (conv, batchnorm,
// relu, maxpool, dropout, linear, cross_entropy, SGD with momentum and weight decay) trains on the
// device as on the CPU, and once warm a step makes no device malloc: every tensor of the step
// comes from the caching allocator's cache (issue #12: "no cudaMalloc in a steady-state step"),
// and the host waits for the device only to read the values it needs.
#include <gtest/gtest.h>

#include <cstdio>
#include <memory>

#include "framework/nn/nn.h"
#include "framework/ops/ops.h"
#include "framework/optim/adam.h"
#include "framework/optim/clip_grad.h"
#include "framework/optim/sgd.h"
#include "kernels/device/caching_allocator.h"
#include "tests/device_compare.h"
#include "tests/device_test.h"

using namespace tandem;

namespace {

class TrainingOnDevice : public tandem::testing::StackDeviceTest {};

// conv(1->16) bn relu maxpool conv(16->32) bn relu maxpool flatten dropout linear(2048->10),
// for 1x32x32 images: a batch of 32 has activations over 1 MiB, so the step uses both of the
// allocator's pools.
std::shared_ptr<nn::Sequential> small_cnn(uint64_t seed) {
  Generator g(seed);
  auto seq = std::make_shared<nn::Sequential>();
  seq->push_back(std::make_shared<nn::Conv2d>(1, 16, 3, 1, 1, true, g));
  seq->push_back(std::make_shared<nn::BatchNorm2d>(16));
  seq->push_back(std::make_shared<nn::ReLU>());
  seq->push_back(std::make_shared<nn::MaxPool2d>(2));
  seq->push_back(std::make_shared<nn::Conv2d>(16, 32, 3, 1, 1, true, g));
  seq->push_back(std::make_shared<nn::BatchNorm2d>(32));
  seq->push_back(std::make_shared<nn::ReLU>());
  seq->push_back(std::make_shared<nn::MaxPool2d>(2));
  seq->push_back(std::make_shared<nn::Flatten>());
  seq->push_back(std::make_shared<nn::Dropout>(0.25));
  seq->push_back(std::make_shared<nn::Linear>(32 * 8 * 8, 10, true, g));
  return seq;
}

// An epoch of 4 batches: 3 of 32 images and a last one of 8 (as without drop_last). The images
// are fixed per batch, so the loss falls as the model learns them.
constexpr int kBatchesPerEpoch = 4;
int64_t batch_size(int step) { return step % kBatchesPerEpoch == kBatchesPerEpoch - 1 ? 8 : 32; }

// The trainer's step: batch to the device, forward, loss, backward, optimizer step; the loss
// read back as the trainer reads it.
double train_step(nn::Module& model, optim::Optimizer& opt, Device device, int step,
                  double clip_norm = 0) {
  const int64_t n = batch_size(step);
  Generator data(1000 + uint64_t(step % kBatchesPerEpoch));
  const Tensor x = randn({n, 1, 32, 32}, data);
  std::vector<int64_t> t(static_cast<size_t>(n));
  for (auto& v : t) v = int64_t(data.random() % 10);
  manual_seed(uint64_t(step));  // dropout
  opt.zero_grad();
  Tensor loss = cross_entropy(model(x.to(device)), from_vector(t, {n}).to(device));
  loss.backward();
  if (clip_norm > 0) optim::clip_grad_norm_(model.parameters(), clip_norm);
  opt.step();
  return loss.item();
}

}  // namespace

TEST_P(TrainingOnDevice, SmallCnnTrainsAsOnTheCpuWithoutDeviceMallocsOnceWarm) {
  const optim::SgdOptions so{.lr = 0.05, .momentum = 0.9, .weight_decay = 5e-4};
  auto ref = small_cnn(3);
  optim::SGD ref_opt(ref->parameters(), so);
  auto model = small_cnn(3);
  model->to(device());
  optim::SGD opt(model->parameters(), so);
  auto& alloc = kernels::device::device_allocator();
  const int index = device().is_cuda() ? device().index : 0;
  constexpr int kWarm = kBatchesPerEpoch, kSteps = 3 * kBatchesPerEpoch;  // warm: one epoch
  kernels::device::AllocatorStats warm{};
  double first_loss = 0, last_loss = 0;
  for (int step = 0; step < kSteps; ++step) {
    if (step == kWarm) {
      warm = alloc.stats(index);
      alloc.reset_peak_stats(index);
    }
    const double l = train_step(*model, opt, device(), step);
    const double l_ref = train_step(*ref, ref_opt, kCPU, step);
    if (tandem::testing::bit_identical_on(device())) {
      ASSERT_EQ(l, l_ref) << "step " << step;
    }
    if (step == 0) first_loss = l;
    if (step == kSteps - kBatchesPerEpoch) last_loss = l;  // the same batch, two epochs later
  }
  EXPECT_LT(last_loss, first_loss);
  EXPECT_TRUE(tandem::testing::all_match_cpu(model->state_dict(), ref->state_dict(), device(),
                                             "after training", 10));
  if (!device().is_cuda()) return;
  const auto now = alloc.stats(index);
  std::printf(
      "  %s: %lld device malloc(s) in the first epoch (%d steps), %lld in the next %d "
      "steps; peak allocated %.1f KiB in a steady step, reserved %.1f KiB\n",
      device().str().c_str(), (long long)warm.device_mallocs, kWarm,
      (long long)(now.device_mallocs - warm.device_mallocs), kSteps - kWarm,
      double(now.peak_allocated_bytes) / 1024, double(now.reserved_bytes) / 1024);
  RecordProperty("warmup_device_mallocs", int(warm.device_mallocs));
  RecordProperty("peak_allocated_bytes", std::to_string(now.peak_allocated_bytes));
  EXPECT_GT(warm.device_mallocs, 0);
  EXPECT_EQ(now.device_mallocs, warm.device_mallocs)
      << "a steady-state step asked the device for memory: " << alloc.summary(index);
  EXPECT_EQ(now.allocations, warm.allocations) << "live allocations grow step by step";
  EXPECT_EQ(now.device_frees, warm.device_frees);
}

// Once warm, a step waits for the device only where the host needs a value: the loss the trainer
// reads back. Any other wait would stop the host queueing work while the device drains; nothing
// in the forward (nll_loss's targets are checked by its kernel), the backward, clip_grad_norm_
// (its norm and factor stay on the device) or the optimizers' steps needs one. (Adam's step count
// is a CPU tensor, as PyTorch's.)
TEST_P(TrainingOnDevice, AWarmStepWaitsForTheDeviceOnlyToReadItsLoss) {
  if (!device().is_cuda()) GTEST_SKIP() << "the CPU has no device to wait for";
  const kernels::device::DeviceRuntime& rt = kernels::device::cuda_runtime();
  for (const bool adam : {false, true})
    for (const double clip : {0.0, 1.0}) {
      auto model = small_cnn(3);
      model->to(device());
      std::unique_ptr<optim::Optimizer> opt;
      if (adam)
        opt = std::make_unique<optim::Adam>(model->parameters(), optim::AdamOptions{});
      else
        opt = std::make_unique<optim::SGD>(model->parameters(),
                                           optim::SgdOptions{.lr = 0.05, .momentum = 0.9});
      for (int step = 0; step < kBatchesPerEpoch; ++step)
        train_step(*model, *opt, device(), step, clip);
      // Step 0 of the next epoch: a batch of 32, as the warm-up's first.
      const uint64_t before = rt.host_waits();
      train_step(*model, *opt, device(), kBatchesPerEpoch, clip);
      EXPECT_EQ(rt.host_waits() - before, 1u)
          << (adam ? "Adam" : "SGD") << (clip > 0 ? " with clip_grad_norm_" : "");
    }
}

TANDEM_INSTANTIATE_DEVICE_TEST(TrainingOnDevice);

// The suites above the ops (StackDeviceTest) need a complete kernel table: the CPU's and the
// emulated device's are; the real CUDA backend's missing families are listed (its cuda instances
// skip naming them until they land).
TEST(StackDeviceTest, CpuAndEmulatedBackendsAreComplete) {
  using tandem::testing::missing_kernel_families;
  EXPECT_EQ(missing_kernel_families(kernels::Backend::CPU), "");
  EXPECT_EQ(missing_kernel_families(kernels::Backend::EmulatedCUDA), "");
  const std::string cuda = missing_kernel_families(kernels::Backend::CUDA);
  std::printf("  CUDA backend (%s): %s\n",
              kernels::device::built_with_cuda() ? "built" : "not built",
              cuda.empty() ? "complete" : ("no kernel yet for " + cuda).c_str());
}
