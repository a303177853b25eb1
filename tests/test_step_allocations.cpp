// Heap traffic of a steady-state training step, counted by a malloc/operator-new hook that this
// executable interposes over the C library's: how many allocations one step of the Fashion-MNIST
// CNN (forward, cross-entropy, backward, SGD with momentum) makes, and how many bytes, once the
// first steps have built every cached primitive and scratch buffer.
//
// What this asserts is what tandem guarantees today: the steady state is exactly steady (every
// step makes the same allocations, so nothing accumulates or churns from step to step), tensors'
// storage comes from the CPU caching allocator (kernels/cpu/caching_allocator.h), so a step takes
// no memory for its activations and gradients from the system, the convolutions' scratch (im2col
// columns, oneDNN's blocked copies and scratchpad) is reused, and what is left is small objects:
// tensors' and autograd nodes' bookkeeping (shapes, strides, nodes, closures, argument lists).
// A step with no heap allocation at all (issue #16's goal) also needs those pooled; that is not
// done, and this test will then tighten.
#include <gtest/gtest.h>

#include <malloc.h>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <vector>

#include "framework/core/memory.h"
#include "framework/nn/models/simple.h"
#include "framework/ops/ops.h"
#include "framework/optim/sgd.h"
#include "framework/tensor/factories.h"
#include "kernels/cpu/caching_allocator.h"
#include "kernels/cpu/threads.h"

// --- the counting hook --------------------------------------------------------------------------
extern "C" void* __libc_malloc(size_t);
extern "C" void* __libc_calloc(size_t, size_t);
extern "C" void* __libc_realloc(void*, size_t);
extern "C" void* __libc_memalign(size_t, size_t);
extern "C" void __libc_free(void*);

namespace {
std::atomic<bool> counting{false};
std::atomic<long> allocations{0}, bytes{0}, large_allocations{0};
constexpr size_t kLarge = 64 * 1024;  // a tensor's storage, not a node or a shape

void count(size_t n) {
  if (!counting.load(std::memory_order_relaxed)) return;
  allocations.fetch_add(1, std::memory_order_relaxed);
  bytes.fetch_add(long(n), std::memory_order_relaxed);
  if (n >= kLarge) large_allocations.fetch_add(1, std::memory_order_relaxed);
}
}  // namespace

extern "C" {
void* malloc(size_t n) {
  count(n);
  return __libc_malloc(n);
}
void* calloc(size_t k, size_t n) {
  count(k * n);
  return __libc_calloc(k, n);
}
void* realloc(void* p, size_t n) {
  count(n);
  return __libc_realloc(p, n);
}
void* aligned_alloc(size_t alignment, size_t n) {
  count(n);
  return __libc_memalign(alignment, n);
}
void* memalign(size_t alignment, size_t n) {
  count(n);
  return __libc_memalign(alignment, n);
}
int posix_memalign(void** out, size_t alignment, size_t n) {
  count(n);
  *out = __libc_memalign(alignment, n);
  return *out ? 0 : ENOMEM;
}
void free(void* p) { __libc_free(p); }
}
// operator new calls malloc in libstdc++, so the hook above sees it too.

namespace {

using namespace tandem;

struct Traffic {
  long allocations, bytes, large;
};

template <typename Fn>
Traffic measure(Fn&& fn) {
  allocations = bytes = large_allocations = 0;
  counting = true;
  fn();
  counting = false;
  return {allocations.load(), bytes.load(), large_allocations.load()};
}

}  // namespace

TEST(StepAllocations, ConvolutionsReuseTheirScratch) {
  kernels::cpu::set_cpu_threads(1);
  Generator gen(0);
  // The CNN's second layer: oneDNN where built (reorders into blocked layouts), and a layer with
  // a 2x2 output that runs the batched GEMMs on im2col columns.
  for (const Shape& xs : {Shape{16, 32, 14, 14}, Shape{16, 32, 2, 2}}) {
    Tensor x = randn(xs, gen).set_requires_grad(true);
    Tensor w = (randn({64, 32, 3, 3}, gen) * 0.05).detach().set_requires_grad(true);
    auto step = [&] { conv2d(x, w, Tensor(), {1, 1}, {1, 1}).sum().backward(); };
    step();
    step();
    const Traffic t = measure(step);
    std::printf("conv2d %s forward+backward: %ld allocations, %ld bytes\n", shape_str(xs).c_str(),
                t.allocations, t.bytes);
    // Nothing large: the output, its gradient and the input gradients come from the CPU cache
    // (.grad accumulates in place from the second step), the scratch is reused.
    if (kernels::cpu::cpu_allocator().limit() > 0) {
      EXPECT_EQ(t.large, 0) << shape_str(xs);
    }
    x.set_grad(Tensor());
    w.set_grad(Tensor());
  }
}

TEST(StepAllocations, CnnTrainingStepIsSteady) {
  retain_freed_memory();
  kernels::cpu::set_cpu_threads(1);
  Generator gen(0);
  auto model = nn::models::simple_cnn({}, gen);
  model->train();
  optim::SGD opt(model->parameters(), {.lr = 0.01, .momentum = 0.9});
  const Tensor x = randn({64, 1, 28, 28}, gen);
  const Tensor y = from_vector(std::vector<int64_t>(64, 3), {64});
  auto step = [&] {
    opt.zero_grad();
    Tensor loss = cross_entropy(model->forward(x), y);
    loss.backward();
    opt.step();
  };
  for (int i = 0; i < 3; ++i) step();  // primitives, scratch, momentum buffers
  std::vector<Traffic> steps;
  for (int i = 0; i < 4; ++i) steps.push_back(measure(step));
  const Traffic& t = steps.front();
  std::printf("simple_cnn step (batch 64): %ld allocations (%ld of at least 64 KiB), %.1f MiB\n",
              t.allocations, t.large, double(t.bytes) / (1 << 20));
  for (const Traffic& s : steps) {
    EXPECT_EQ(s.allocations, t.allocations);
    EXPECT_EQ(s.bytes, t.bytes);
  }
  // No storage from the system (with the CPU cache on, as it is outside sanitizer builds), and
  // the small objects within today's budget, with headroom for library versions (measured:
  // 1,478 allocations of 0.1 MiB in all with oneDNN; 2,252 of 64.6 MiB before the CPU cache):
  // tens of small objects per op (tensors' shapes and strides, autograd nodes and closures,
  // oneDNN's argument maps and memory handles).
  if (kernels::cpu::cpu_allocator().limit() > 0) {
    EXPECT_EQ(t.large, 0);
    EXPECT_LT(t.bytes, 1 << 20);
  }
  EXPECT_LE(t.allocations, 1800);
}
