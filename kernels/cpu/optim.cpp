// Fused CPU optimizer passes over each contiguous parameter of a list, applying the per-element
// updates of kernels/common/optim_functors.h, and the loss scaler's unscale
// (kernels/common/amp_functors.h). Elements are independent: chunks run in parallel
// (parallel_for.h) with the same bits for any thread count.
#include <atomic>
#include <span>

#include "kernels/cpu/isa.h"
#include "kernels/cpu/parallel_for.h"
#include "kernels/cpu/register.h"

namespace tandem::kernels::cpu {

// With fused steps, where the CPU has FMA, the loop runs in a build whose std::fma is an
// instruction (isa.h); otherwise std::fma is a library call per element, with the same bits.
template <typename T>
void sgd_step(T* p, const T* g, T* buf, int64_t n, const SgdParams& s) {
  parallel_for(0, n, kParallelGrain, [&](int64_t b, int64_t e) {
    const auto chunk = [&](int64_t cb, int64_t ce) TANDEM_INLINE_LAMBDA {
      for (int64_t i = cb; i < ce; ++i) sgd_update<T>(p[i], g[i], buf ? buf + i : nullptr, s);
    };
    if (s.fused && cpu_has_avx2_fma())
      call_with_avx2_fma(chunk, b, e);
    else
      chunk(b, e);
  });
}

// The parameters are copied and the buffers declared unaliased so the compiler can unswitch the
// loop on the (loop-invariant) options and vectorise it; every element is still computed by
// adam_update's exact operations, so the bits are those of the scalar loop and of the GPU.
template <typename T>
void adam_step(T* __restrict p, const T* __restrict g, T* __restrict m, T* __restrict v,
               T* __restrict vmax, int64_t n, const AdamParams& params) {
  parallel_for(0, n, kParallelGrain, [&](int64_t b, int64_t e) {
    const auto chunk = [&](int64_t cb, int64_t ce) TANDEM_INLINE_LAMBDA {
      AdamParams a = params;
      if (a.amsgrad) {
        for (int64_t i = cb; i < ce; ++i) adam_update<T>(p[i], g[i], m[i], v[i], vmax + i, a);
      } else {
        a.amsgrad = false;  // known here, so the branch folds away and the loop vectorises
        for (int64_t i = cb; i < ce; ++i) adam_update<T>(p[i], g[i], m[i], v[i], nullptr, a);
      }
    };
    if (params.fused && cpu_has_avx2_fma())  // as sgd_step
      call_with_avx2_fma(chunk, b, e);
    else
      chunk(b, e);
  });
}

void sgd_step_cpu(const KernelContext&, const SgdParams& s, std::span<const SgdTensor> list) {
  for (const SgdTensor& t : list)
    dispatch_floating(t.param.dtype, "SGD", [&](auto tag) {
      using T = typename decltype(tag)::type;
      sgd_step<T>(t.param.as<T>(), t.grad.as<const T>(), t.momentum_buf.as<T>(), t.n, s);
    });
}

void adam_step_cpu(const KernelContext&, const AdamParams& a, std::span<const AdamTensor> list) {
  for (const AdamTensor& t : list)
    dispatch_floating(t.param.dtype, "Adam", [&](auto tag) {
      using T = typename decltype(tag)::type;
      adam_step<T>(t.param.as<T>(), t.grad.as<const T>(), t.exp_avg.as<T>(), t.exp_avg_sq.as<T>(),
                   t.max_exp_avg_sq.as<T>(), t.n, a);
    });
}

void unscale_and_check_cpu(const KernelContext&, const UnscaleParams& u,
                           std::span<const UnscaleTensor> list) {
  for (const UnscaleTensor& t : list)
    dispatch_floating(t.grad.dtype, "unscale", [&](auto tag) {
      using T = typename decltype(tag)::type;
      T* g = t.grad.as<T>();
      std::atomic<bool> any{false};
      parallel_for(0, t.n, kParallelGrain, [&](int64_t b, int64_t e) {
        bool here = false;
        for (int64_t i = b; i < e; ++i) here |= unscale_element<T>(g[i], u.inv_scale);
        if (here) any.store(true, std::memory_order_relaxed);
      });
      if (any.load()) *t.found_inf.as<float>() = 1.0f;
    });
}

TANDEM_REGISTER_CPU_KERNEL(sgd_step, sgd_step_cpu);
TANDEM_REGISTER_CPU_KERNEL(unscale_and_check, unscale_and_check_cpu);
TANDEM_REGISTER_CPU_KERNEL(adam_step, adam_step_cpu);

}  // namespace tandem::kernels::cpu
