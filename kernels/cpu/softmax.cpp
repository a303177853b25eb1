// CPU softmax / log_softmax and their backward along the middle dim of (outer, n, inner).
// The per-row arithmetic is kernels/common/row_functors.h, shared with the CUDA kernels; the
// outer slices run in parallel (parallel_for.h), each row on one thread.
#include "kernels/common/row_functors.h"
#include "kernels/cpu/float_staging.h"
#include "kernels/cpu/parallel_for.h"
#include "kernels/cpu/register.h"

namespace tandem::kernels::cpu {

template <typename T>
void softmax_forward(const T* in, T* out, int64_t outer, int64_t n, int64_t inner, bool log) {
  parallel_for_each(outer, n * inner, [&](int64_t o) {
    for (int64_t j = 0; j < inner; ++j)
      softmax_row(in + o * n * inner + j, out + o * n * inner + j, n, inner, log);
  });
}

template <typename T>
void softmax_backward(const T* grad, const T* out, T* grad_in, int64_t outer, int64_t n,
                      int64_t inner, bool log) {
  parallel_for_each(outer, n * inner, [&](int64_t o) {
    for (int64_t j = 0; j < inner; ++j) {
      const int64_t base = o * n * inner + j;
      softmax_backward_row(grad + base, out + base, grad_in + base, n, inner, log);
    }
  });
}

void softmax_forward_cpu(const KernelContext& ctx, const Slab& s, bool log, const Buffer& in,
                         const Buffer& out) {
  if (is_half(in.dtype)) {  // computed in float, rounded once (float_staging.h)
    FloatStaging f;
    const int64_t n = s.outer * s.n * s.inner;
    softmax_forward_cpu(ctx, s, log, f.input(in, n), f.output(out, n));
    return f.finish();
  }
  dispatch_floating(in.dtype, log ? "log_softmax" : "softmax", [&](auto tag) {
    using T = typename decltype(tag)::type;
    softmax_forward<T>(in.as<const T>(), out.as<T>(), s.outer, s.n, s.inner, log);
  });
}

void softmax_backward_cpu(const KernelContext& ctx, const Slab& s, bool log, const Buffer& grad,
                          const Buffer& out, const Buffer& grad_in) {
  if (is_half(grad.dtype)) {
    FloatStaging f;
    const int64_t n = s.outer * s.n * s.inner;
    softmax_backward_cpu(ctx, s, log, f.input(grad, n), f.input(out, n), f.output(grad_in, n));
    return f.finish();
  }
  dispatch_floating(grad.dtype, "softmax_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    softmax_backward<T>(grad.as<const T>(), out.as<const T>(), grad_in.as<T>(), s.outer, s.n,
                        s.inner, log);
  });
}

TANDEM_REGISTER_CPU_KERNEL(softmax_forward, softmax_forward_cpu);
TANDEM_REGISTER_CPU_KERNEL(softmax_backward, softmax_backward_cpu);

}  // namespace tandem::kernels::cpu
