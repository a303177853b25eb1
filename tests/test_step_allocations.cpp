// Heap traffic of a steady-state training step, counted by a malloc/operator-new hook that this
// executable interposes over the C library's: how many allocations one step (forward, loss,
// backward, optimizer step) makes once the first steps have built every cached primitive, scratch
// buffer and optimizer state.
//
// tandem's own code allocates nothing in that step (issue #16): tensors' data comes from the CPU
// caching allocator (kernels/cpu/caching_allocator.h); their bookkeeping, autograd nodes and
// backward closures from the object pool (framework/core/object_pool.h); sizes, strides and
// gradient lists are inline (kernels/common/small_vector.h); the engine's tables and oneDNN's
// memory objects are kept per thread. What remains is inside oneDNN: each primitive execution
// builds its argument map (a few small allocations per call, which tandem cannot reach). The
// hook tells them apart by the call stack: an allocation is oneDNN's when one of its frames is
// in libdnnl.
#include <gtest/gtest.h>

#include <dlfcn.h>
#include <execinfo.h>
#include <malloc.h>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "framework/core/memory.h"
#include "framework/nn/models/simple.h"
#include "framework/nn/nn.h"
#include "framework/ops/autocast.h"
#include "framework/ops/ops.h"
#include "framework/optim/adam.h"
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
std::atomic<long> allocations{0}, bytes{0}, large_allocations{0}, onednn_allocations{0};
constexpr size_t kLarge = 64 * 1024;  // a tensor's storage, not a node or a shape
thread_local bool in_hook = false;    // backtrace and dladdr may allocate themselves

// Whether a frame of the calling stack is in oneDNN's library.
bool called_from_onednn() {
  void* frames[64];
  const int n = backtrace(frames, 64);
  for (int i = 2; i < n; ++i) {
    Dl_info info;
    if (dladdr(frames[i], &info) && info.dli_fname && std::strstr(info.dli_fname, "libdnnl"))
      return true;
  }
  return false;
}

void count(size_t n) {
  if (!counting.load(std::memory_order_relaxed) || in_hook) return;
  in_hook = true;
  allocations.fetch_add(1, std::memory_order_relaxed);
  bytes.fetch_add(long(n), std::memory_order_relaxed);
  if (n >= kLarge) large_allocations.fetch_add(1, std::memory_order_relaxed);
  if (called_from_onednn()) onednn_allocations.fetch_add(1, std::memory_order_relaxed);
  in_hook = false;
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
  long allocations, bytes, large, onednn;
  long tandem() const { return allocations - onednn; }  // made by tandem's code (or libstdc++)
};

template <typename Fn>
Traffic measure(Fn&& fn) {
  {
    void* warm[4];
    backtrace(warm, 4);  // loads the unwinder before counting starts
  }
  allocations = bytes = large_allocations = onednn_allocations = 0;
  counting = true;
  fn();
  counting = false;
  return {allocations.load(), bytes.load(), large_allocations.load(), onednn_allocations.load()};
}

// The same traffic at every step (nothing accumulates or churns) and none of it tandem's.
void expect_steady_and_none_from_tandem(const std::vector<Traffic>& steps, const char* what) {
  const Traffic& t = steps.front();
  std::printf("%s: %ld allocations (%ld inside oneDNN, %ld of at least 64 KiB), %ld bytes\n", what,
              t.allocations, t.onednn, t.large, t.bytes);
  for (const Traffic& s : steps) {
    EXPECT_EQ(s.allocations, t.allocations) << what;
    EXPECT_EQ(s.bytes, t.bytes) << what;
  }
  // Sanitizer builds turn the caches off (so that use-after-free stays visible): then tensors
  // and nodes come from the system, and only steadiness is checked.
  if (kernels::cpu::cpu_allocator().limit() > 0) {
    EXPECT_EQ(t.tandem(), 0) << what << ": allocations outside oneDNN";
  }
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
    const std::string what = "conv2d " + shape_str(xs) + " forward+backward";
    expect_steady_and_none_from_tandem({measure(step), measure(step)}, what.c_str());
    x.set_grad(Tensor());
    w.set_grad(Tensor());
  }
}

// Training steps of a classifier on a fixed batch of 64 Fashion-MNIST-sized images: three to warm
// up (primitives, scratch, optimizer state), then `measured` counted ones; with `bf16`, the
// forward pass and the loss run under CPU autocast, as training.precision: bf16 does.
std::vector<Traffic> training_steps(nn::Sequential& model, optim::Optimizer& opt, Generator& gen,
                                    int measured, bool bf16 = false) {
  model.train();
  const Tensor x = randn({64, 1, 28, 28}, gen);
  const Tensor y = from_vector(std::vector<int64_t>(64, 3), {64});
  auto step = [&] {
    opt.zero_grad();
    Tensor loss;
    {
      const autocast::AutocastGuard region(DeviceType::CPU, DType::BFloat16, bf16);
      loss = cross_entropy(model.forward(x), y);
    }
    loss.backward();
    opt.step();
  };
  for (int i = 0; i < 3; ++i) step();
  std::vector<Traffic> steps;
  for (int i = 0; i < measured; ++i) steps.push_back(measure(step));
  return steps;
}

TEST(StepAllocations, CnnTrainingStepAllocatesNothingOutsideOneDnn) {
  retain_freed_memory();
  kernels::cpu::set_cpu_threads(1);
  Generator gen(0);
  auto model = nn::models::simple_cnn({}, gen);
  optim::SGD opt(model->parameters(), {.lr = 0.01, .momentum = 0.9});
  const std::vector<Traffic> steps = training_steps(*model, opt, gen, 4);
  expect_steady_and_none_from_tandem(steps, "simple_cnn step (batch 64, SGD with momentum)");
  // oneDNN's own: a few small allocations per primitive execution in the convolutions (measured:
  // 70 per step with oneDNN 2.6), with headroom for other versions.
  EXPECT_LE(steps.front().onednn, 200);
  // With the im2col convolutions (ctest's step_allocations_im2col) nothing at all.
  const char* conv = std::getenv("TANDEM_CPU_CONV");
  if (conv && std::string(conv) == "im2col" && kernels::cpu::cpu_allocator().limit() > 0) {
    EXPECT_EQ(steps.front().allocations, 0);
  }
}

TEST(StepAllocations, Bf16CnnStepAllocatesNothingOutsideOneDnn) {
  kernels::cpu::set_cpu_threads(1);
  Generator gen(0);
  auto model = nn::models::simple_cnn({}, gen);
  optim::SGD opt(model->parameters(), {.lr = 0.01, .momentum = 0.9});
  // bfloat16 convolutions and matmuls on oneDNN where the CPU has bf16 instructions, the
  // float32 fallback elsewhere; the parameters' casts, cached per region, every step.
  expect_steady_and_none_from_tandem(training_steps(*model, opt, gen, 3, /*bf16=*/true),
                                     "simple_cnn step under bf16 autocast");
}

TEST(StepAllocations, MlpTrainingStepAllocatesNothing) {
  kernels::cpu::set_cpu_threads(1);
  Generator gen(0);
  auto model = nn::models::mlp({}, gen);
  optim::Adam opt(model->parameters(), {.lr = 1e-3, .weight_decay = 1e-4});
  const Traffic t = training_steps(*model, opt, gen, 1).front();
  std::printf("mlp step (batch 64, Adam): %ld allocations\n", t.allocations);
  if (kernels::cpu::cpu_allocator().limit() > 0) {
    EXPECT_EQ(t.allocations, 0);
  }
}

TEST(StepAllocations, NormalisedModelStepAllocatesNothingOutsideOneDnn) {
  kernels::cpu::set_cpu_threads(1);
  Generator gen(0);
  // Group norm after a convolution and layer norm after a linear layer: their backward's
  // per-channel partial sums come from the thread's scratch.
  nn::Sequential model(std::vector<nn::ModulePtr>{
      std::make_shared<nn::Conv2d>(1, 8, 3, 2, 1, true, gen), std::make_shared<nn::GroupNorm>(2, 8),
      std::make_shared<nn::ReLU>(), std::make_shared<nn::Flatten>(),
      std::make_shared<nn::Linear>(8 * 14 * 14, 32, true, gen),
      std::make_shared<nn::LayerNorm>(Shape{32}), std::make_shared<nn::ReLU>(),
      std::make_shared<nn::Linear>(32, 10, true, gen)});
  optim::SGD opt(model.parameters(), {.lr = 0.01, .momentum = 0.9});
  expect_steady_and_none_from_tandem(training_steps(model, opt, gen, 3),
                                     "conv + group norm + linear + layer norm step (batch 64)");
}
