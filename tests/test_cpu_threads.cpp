// tandem's CPU kernels on several threads (kernels/cpu/parallel_for.h): the split covers every
// iteration once, errors come back to the caller, and every kernel that splits gives the same
// bits on 1 and on 3 threads, down to whole training steps. Built without OpenMP, the kernels
// run on one thread and the tests that need threads skip.
#include <gtest/gtest.h>

#include <cblas.h>  // openblas_set_num_threads

#include <atomic>
#include <cstring>
#include <functional>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "framework/nn/models/simple.h"
#include "framework/ops/ops.h"
#include "framework/optim/adam.h"
#include "framework/optim/sgd.h"
#include "framework/tensor/factories.h"
#include "kernels/cpu/isa.h"
#include "kernels/cpu/parallel_for.h"
#include "kernels/cpu/threads.h"

namespace tandem {
namespace {

using kernels::cpu::cpu_threads;
using kernels::cpu::parallel_for;
using kernels::cpu::set_cpu_threads;

// Restores one thread (what every other suite assumes) when a test ends.
struct ThreadsGuard {
  explicit ThreadsGuard(int n) { set_cpu_threads(n); }
  ~ThreadsGuard() { set_cpu_threads(1); }
};

bool has_threads() {
  const ThreadsGuard guard(3);
  return cpu_threads() == 3;
}

TEST(ParallelFor, CoversEveryIterationOnceOnSeveralThreads) {
  if (!has_threads()) GTEST_SKIP() << "built without OpenMP: CPU kernels run on one thread";
  const ThreadsGuard guard(3);
  constexpr int64_t n = 100001;
  std::vector<std::atomic<int>> seen(n);
  std::mutex m;
  std::set<std::thread::id> threads;
  parallel_for(0, n, 1000, [&](int64_t b, int64_t e) {
    {
      const std::lock_guard<std::mutex> lock(m);
      threads.insert(std::this_thread::get_id());
    }
    for (int64_t i = b; i < e; ++i) seen[size_t(i)]++;
  });
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(seen[size_t(i)].load(), 1) << i;
  EXPECT_EQ(threads.size(), 3u);
}

TEST(ParallelFor, SmallLoopsAndNestedCallsStayOnTheCallingThread) {
  const ThreadsGuard guard(3);
  const auto caller = std::this_thread::get_id();
  int chunks = 0;
  parallel_for(5, 105, 1000, [&](int64_t b, int64_t e) {  // under one grain: one chunk, here
    EXPECT_EQ(std::this_thread::get_id(), caller);
    EXPECT_EQ(b, 5);
    EXPECT_EQ(e, 105);
    ++chunks;
  });
  EXPECT_EQ(chunks, 1);
  parallel_for(0, 0, 1, [&](int64_t, int64_t) { ADD_FAILURE() << "an empty range runs nothing"; });
  // Inside a chunk, a kernel's own parallel_for runs as one chunk on that thread.
  std::atomic<int> inner_chunks{0}, outer_chunks{0};
  parallel_for(0, 4, 1, [&](int64_t b, int64_t e) {
    outer_chunks++;
    const auto me = std::this_thread::get_id();
    parallel_for(0, 1 << 20, 1, [&](int64_t ib, int64_t ie) {
      EXPECT_EQ(std::this_thread::get_id(), me);
      EXPECT_EQ(ie - ib, 1 << 20);
      inner_chunks++;
    });
    (void)b;
    (void)e;
  });
  EXPECT_EQ(inner_chunks.load(), outer_chunks.load());
}

TEST(ParallelFor, AChunksExceptionReachesTheCaller) {
  const ThreadsGuard guard(3);
  std::atomic<int64_t> done{0};
  try {
    parallel_for(0, 3000, 1, [&](int64_t b, int64_t e) {
      if (b <= 1500 && 1500 < e) throw std::out_of_range("index 1500 is out of range");
      done += e - b;
    });
    FAIL() << "no exception";
  } catch (const std::out_of_range& err) {
    EXPECT_STREQ(err.what(), "index 1500 is out of range");
  }
  EXPECT_LT(done.load(), 3000);  // the other chunks ran to their end
}

TEST(ParallelFor, AHelperThreadLimitedToOneCpuSplitsNothing) {
  if (!has_threads()) GTEST_SKIP() << "built without OpenMP: CPU kernels run on one thread";
  const ThreadsGuard guard(3);
  EXPECT_EQ(cpu_threads(), 3);
  std::thread helper([] {
    kernels::cpu::limit_this_thread_to_one_cpu();
    EXPECT_EQ(cpu_threads(), 1);
  });
  helper.join();
  EXPECT_EQ(cpu_threads(), 3);
}

// --- the same bits on 1 and 3 threads ---------------------------------------------------------

bool same_bits(const Tensor& a, const Tensor& b) {
  const Tensor x = a.contiguous(), y = b.contiguous();
  if (x.sizes() != y.sizes() || x.dtype() != y.dtype()) return false;
  return std::memcmp(x.raw_data(), y.raw_data(), size_t(x.numel()) * element_size(x.dtype())) == 0;
}

// Runs `compute` (fresh inputs from seed 7 each time) on `a` and on `b` threads and compares every
// tensor it returns bit for bit. With blas_on_one_thread, OpenBLAS keeps one thread in both runs:
// its threaded sgemm splits the work differently for each thread count (so its sums round
// differently), which parallel_for's kernels must not do.
void expect_same_bits(const std::string& what, const std::function<std::vector<Tensor>()>& compute,
                      int a = 1, int b = 3, bool blas_on_one_thread = false) {
  std::vector<Tensor> results[2];
  for (int run = 0; run < 2; ++run) {
    const ThreadsGuard guard(run == 0 ? a : b);
    if (blas_on_one_thread) openblas_set_num_threads(1);
    results[run] = compute();
  }
  ASSERT_EQ(results[0].size(), results[1].size());
  for (size_t i = 0; i < results[0].size(); ++i)
    EXPECT_TRUE(same_bits(results[0][i], results[1][i]))
        << what << " on " << a << " and " << b << " threads: result " << i << " differs";
}

// Runs `compute` with the kernels' AVX2 builds and with their baseline builds (isa.h) and
// compares every tensor bit for bit.
void expect_same_bits_on_both_isas(const std::string& what,
                                   const std::function<std::vector<Tensor>()>& compute) {
  if (!kernels::cpu::cpu_has_avx2()) GTEST_SKIP() << "this CPU has no AVX2: one build only";
  const std::vector<Tensor> avx2 = compute();
  kernels::cpu::baseline_isa_forced() = true;
  const std::vector<Tensor> baseline = compute();
  kernels::cpu::baseline_isa_forced() = false;
  ASSERT_EQ(avx2.size(), baseline.size());
  for (size_t i = 0; i < avx2.size(); ++i)
    EXPECT_TRUE(same_bits(avx2[i], baseline[i]))
        << what << " with AVX2 and baseline builds: result " << i << " differs";
}

// An NCHW batch big enough to be split (kernels split from 2 x 32768 elements).
Tensor activations(Generator& gen, bool requires_grad = true) {
  Tensor x = randn({32, 16, 30, 30}, gen);
  x.set_requires_grad(requires_grad);
  return x;
}

TEST(CpuThreads, ElementwiseKernelsGiveTheSameBits) {
  expect_same_bits("elementwise", [] {
    Generator gen(7);
    const Tensor x = activations(gen, false), y = activations(gen, false);
    const Tensor bias = randn({1, 16, 1, 1}, gen);
    const Tensor xt = x.transpose(1, 3);  // strided operand
    return std::vector<Tensor>{x.relu(),
                               (x * y).exp(),
                               x + bias,
                               xt * 2.0 + xt,
                               where(gt(x, y), x, y),
                               x.to(DType::Float64),
                               x.to(DType::BFloat16),
                               xt.contiguous(),
                               full_like(x, 0.25)};
  });
}

TEST(CpuThreads, ReductionsGiveTheSameBits) {
  expect_same_bits("reductions", [] {
    Generator gen(7);
    const Tensor x = activations(gen, false);
    const Tensor rows = randn({3000, 37}, gen);
    return std::vector<Tensor>{
        x.sum({0, 2, 3}),  // a convolution's bias gradient
        x.sum({1}),       rows.sum({0}),      rows.mean({1}),      x.sum(),
        amax(x, {2, 3}),  max(rows, 1).first, max(rows, 1).second, argmax(x, 1),
        softmax(rows, 1), log_softmax(x, 1)};
  });
}

TEST(CpuThreads, SpatialKernelsAndTheirGradientsGiveTheSameBits) {
  expect_same_bits("spatial", [] {
    Generator gen(7);
    std::vector<Tensor> out;
    const Tensor x = activations(gen);
    const Tensor g = randn({32, 16, 15, 15}, gen);
    auto with_grad = [&](const Tensor& y, const Tensor& gy) {
      x.set_grad(Tensor());
      (y * gy).sum().backward();
      out.push_back(y.detach());
      out.push_back(x.grad());
    };
    with_grad(max_pool2d(x, {2, 2}), g);
    with_grad(max_pool2d(x, {3, 3}, {2, 2}, {1, 1}), randn({32, 16, 15, 15}, gen));
    with_grad(avg_pool2d(x, {2, 2}), g);
    with_grad(adaptive_avg_pool2d(x, {7, 5}), randn({32, 16, 7, 5}, gen));
    with_grad(interpolate(x, Pair{45, 61}, std::nullopt, "bilinear"), randn({32, 16, 45, 61}, gen));
    with_grad(interpolate(x, Pair{60, 60}, std::nullopt, "nearest"), randn({32, 16, 60, 60}, gen));
    with_grad(softmax(x, 1), activations(gen, false));
    return out;
  });
}

std::vector<Tensor> batch_norm_results() {
  Generator gen(7);
  const Tensor x = activations(gen);
  const Tensor w = randn({16}, gen).set_requires_grad(true);
  const Tensor b = randn({16}, gen).set_requires_grad(true);
  const Tensor mean = zeros({16}), var = ones({16});
  const Tensor y = batch_norm(x, mean, var, w, b, /*training=*/true);
  (y * activations(gen, false)).sum().backward();
  const Tensor eval = batch_norm(x.detach(), mean, var, w.detach(), b.detach(), false);
  return std::vector<Tensor>{y.detach(), x.grad(), w.grad(), b.grad(), mean, var, eval};
}

TEST(CpuThreads, BatchNormGivesTheSameBits) { expect_same_bits("batch_norm", batch_norm_results); }

// The weight and bias sums are made per block of samples, a grouping fixed by the shape: short
// rows (many blocks of many rows) and long ones (blocks of a few samples), and group norm.
std::vector<Tensor> layer_and_group_norm_results() {
  Generator gen(7);
  std::vector<Tensor> out;
  const Tensor gy = activations(gen, false);
  for (int k = 0; k < 3; ++k) {
    const Tensor x = activations(gen);
    const Shape p = k == 0 ? Shape{30} : k == 1 ? Shape{16, 30, 30} : Shape{16};
    const Tensor w = randn(p, gen).set_requires_grad(true);
    const Tensor b = randn(p, gen).set_requires_grad(true);
    const Tensor y = k < 2 ? layer_norm(x, p, w, b) : group_norm(x, 4, w, b);
    y.backward(gy);
    for (const Tensor& t : {y.detach(), x.grad(), w.grad(), b.grad()}) out.push_back(t);
  }
  return out;
}

TEST(CpuThreads, LayerAndGroupNormGiveTheSameBits) {
  expect_same_bits("layer_norm and group_norm", layer_and_group_norm_results);
}

// The norms' AVX2 builds do each lane's arithmetic as the baseline builds (no FMA, no reordering).
TEST(CpuIsa, NormsGiveTheSameBitsWithAndWithoutAvx2) {
  expect_same_bits_on_both_isas("batch_norm", batch_norm_results);
  expect_same_bits_on_both_isas("layer_norm and group_norm", layer_and_group_norm_results);
}

TEST(CpuThreads, OptimizerStepsGiveTheSameBits) {
  expect_same_bits("optimizers", [] {
    Generator gen(7);
    std::vector<Tensor> out;
    const Tensor p1 = randn({300000}, gen).set_requires_grad(true);
    const Tensor p2 = p1.detach().clone().set_requires_grad(true);
    optim::SGD sgd({p1}, {.lr = 0.1, .momentum = 0.9, .weight_decay = 1e-4, .nesterov = true});
    optim::Adam adam({p2}, {.lr = 1e-3, .weight_decay = 1e-2, .amsgrad = true}, true);
    for (int step = 0; step < 3; ++step) {
      const Tensor g = randn({300000}, gen);
      p1.set_grad(g);
      p2.set_grad(g.clone());
      sgd.step();
      adam.step();
    }
    out.push_back(p1.detach());
    out.push_back(p2.detach());
    return out;
  });
}

// Three SGD steps of the Fashion-MNIST CNN (convolutions, batch norm, pooling, linear, loss):
// its state_dict afterwards.
std::vector<Tensor> cnn_training_steps() {
  Generator gen(7);
  auto model = nn::models::simple_cnn({}, gen);
  optim::SGD opt(model->parameters(), {.lr = 0.05, .momentum = 0.9});
  model->train();
  std::vector<int64_t> labels(64);
  for (size_t i = 0; i < labels.size(); ++i) labels[i] = int64_t(i % 10);
  for (int step = 0; step < 3; ++step) {
    const Tensor x = randn({64, 1, 28, 28}, gen);
    opt.zero_grad();
    cross_entropy(model->forward(x), from_vector(labels, {64})).backward();
    opt.step();
  }
  std::vector<Tensor> out;
  for (const auto& [name, t] : model->state_dict()) out.push_back(t);
  return out;
}

TEST(CpuThreads, CnnTrainingStepsGiveTheSameWeights) {
  // tandem's kernels and oneDNN's convolutions: the same weights on 1 and 3 threads.
  expect_same_bits("simple_cnn training", cnn_training_steps, 1, 3, /*blas_on_one_thread=*/true);
  // With OpenBLAS threaded too, a run repeats itself on the same thread count.
  expect_same_bits("simple_cnn training", cnn_training_steps, 3, 3);
}

}  // namespace
}  // namespace tandem
