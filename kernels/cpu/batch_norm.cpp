// CPU batch normalisation over (N, C, S): per-channel statistics in double, the normalisation,
// and the fused backward of PyTorch's CPU kernel. The per-channel constants and the per-element
// formulas are kernels/common/batch_norm_functors.h, shared with the CUDA kernels. Channels run in
// parallel (parallel_for.h), each channel's sums in one order on one thread: the same bits for
// any thread count. The channels' work is built for the baseline and for AVX2 (isa.h), with the
// same bits.
#include "kernels/common/batch_norm_functors.h"
#include "kernels/cpu/float_staging.h"
#include "kernels/cpu/isa.h"
#include "kernels/cpu/lane_sum.h"
#include "kernels/cpu/parallel_for.h"
#include "kernels/cpu/register.h"

namespace tandem::kernels::cpu {

template <typename T>
void batch_norm_stats(const T* x, int64_t N, int64_t C, int64_t S, double* mean, double* var) {
  const double n = double(N * S);
  parallel_for_each_isa(C, N * S, [&](int64_t c) TANDEM_INLINE_LAMBDA {
    double sum = 0;
    for (int64_t i = 0; i < N; ++i) {
      const T* p = x + (i * C + c) * S;
      sum += lane_sum(S, [p](int64_t s) { return double(p[s]); });
    }
    const double m = sum / n;
    double sq = 0;
    for (int64_t i = 0; i < N; ++i) {
      const T* p = x + (i * C + c) * S;
      sq += lane_sum(S, [p, m](int64_t s) {
        const double d = double(p[s]) - m;
        return d * d;
      });
    }
    mean[c] = m;
    var[c] = sq / n;
  });
}

template <typename T>
void batch_norm_apply(const T* x, int64_t N, int64_t C, int64_t S, const double* mean,
                      const double* invstd, const T* w, const T* b, T* y) {
  parallel_for_each_isa(C, N * S, [&](int64_t c) TANDEM_INLINE_LAMBDA {
    const BatchNormAffine<T> f =
        batch_norm_affine(mean[c], invstd[c], w ? w + c : nullptr, b ? b + c : nullptr);
    for (int64_t i = 0; i < N; ++i) {
      const T* p = x + (i * C + c) * S;
      T* q = y + (i * C + c) * S;
      for (int64_t s = 0; s < S; ++s) q[s] = batch_norm_normalize(f, p[s]);
    }
  });
}

template <typename T>
void batch_norm_backward(const T* x, const T* gy, int64_t N, int64_t C, int64_t S,
                         const double* mean, const double* invstd, const T* w, bool train, T* gx,
                         double* sum_gy, double* sum_gy_xhat) {
  const double n = double(N * S);
  parallel_for_each_isa(C, N * S, [&](int64_t c) TANDEM_INLINE_LAMBDA {
    double sg = 0, sgx = 0;
    const double m = mean[c], is = invstd[c];
    for (int64_t i = 0; i < N; ++i) {
      const T* xp = x + (i * C + c) * S;
      const T* gp = gy + (i * C + c) * S;
      sg += lane_sum(S, [gp](int64_t s) { return double(gp[s]); });
      sgx += lane_sum(S, [gp, xp, m](int64_t s) { return double(gp[s]) * (double(xp[s]) - m); });
    }
    sgx *= is;
    sum_gy[c] = sg;
    sum_gy_xhat[c] = sgx;
    if (!gx) return;
    const BatchNormGrad coef = batch_norm_grad(w ? double(w[c]) : 1.0, is, sg, sgx, n, train);
    for (int64_t i = 0; i < N; ++i) {
      const T* xp = x + (i * C + c) * S;
      const T* gp = gy + (i * C + c) * S;
      T* out = gx + (i * C + c) * S;
      for (int64_t s = 0; s < S; ++s) out[s] = batch_norm_grad_input(coef, gp[s], xp[s], m);
    }
  });
}

// float16/bfloat16 input (with float32 parameters, PyTorch's mixed-type batch norm) runs the
// float kernels through FloatStaging; the statistics are float64 either way.

void batch_norm_stats_cpu(const KernelContext& ctx, const ChannelLayout& l, const Buffer& x,
                          const Buffer& mean, const Buffer& var) {
  if (is_half(x.dtype)) {
    FloatStaging f;
    return batch_norm_stats_cpu(ctx, l, f.input(x, l.N * l.C * l.S), mean, var);
  }
  dispatch_floating(x.dtype, "batch_norm", [&](auto tag) {
    using T = typename decltype(tag)::type;
    batch_norm_stats<T>(x.as<const T>(), l.N, l.C, l.S, mean.as<double>(), var.as<double>());
  });
}

void batch_norm_apply_cpu(const KernelContext& ctx, const ChannelLayout& l, const Buffer& x,
                          const Buffer& mean, const Buffer& invstd, const Buffer& w,
                          const Buffer& b, const Buffer& y) {
  if (is_half(x.dtype)) {
    FloatStaging f;
    const int64_t n = l.N * l.C * l.S;
    batch_norm_apply_cpu(ctx, l, f.input(x, n), mean, invstd, f.input(w, l.C), f.input(b, l.C),
                         f.output(y, n));
    return f.finish();
  }
  dispatch_floating(x.dtype, "batch_norm", [&](auto tag) {
    using T = typename decltype(tag)::type;
    batch_norm_apply<T>(x.as<const T>(), l.N, l.C, l.S, mean.as<const double>(),
                        invstd.as<const double>(), w.as<const T>(), b.as<const T>(), y.as<T>());
  });
}

void batch_norm_backward_cpu(const KernelContext& ctx, const ChannelLayout& l, bool train,
                             const Buffer& x, const Buffer& grad_y, const Buffer& mean,
                             const Buffer& invstd, const Buffer& w, const Buffer& grad_x,
                             const Buffer& sum_gy, const Buffer& sum_gy_xhat) {
  if (is_half(x.dtype)) {
    FloatStaging f;
    const int64_t n = l.N * l.C * l.S;
    batch_norm_backward_cpu(ctx, l, train, f.input(x, n), f.input(grad_y, n), mean, invstd,
                            f.input(w, l.C), f.output(grad_x, n), sum_gy, sum_gy_xhat);
    return f.finish();
  }
  dispatch_floating(x.dtype, "batch_norm_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    batch_norm_backward<T>(x.as<const T>(), grad_y.as<const T>(), l.N, l.C, l.S,
                           mean.as<const double>(), invstd.as<const double>(), w.as<const T>(),
                           train, grad_x.as<T>(), sum_gy.as<double>(), sum_gy_xhat.as<double>());
  });
}

TANDEM_REGISTER_CPU_KERNEL(batch_norm_stats, batch_norm_stats_cpu);
TANDEM_REGISTER_CPU_KERNEL(batch_norm_apply, batch_norm_apply_cpu);
TANDEM_REGISTER_CPU_KERNEL(batch_norm_backward, batch_norm_backward_cpu);

}  // namespace tandem::kernels::cpu
