// CPU group and layer normalisation over (N, G, B, S) (GroupNormLayout): one fused pass per row
// for the forward (the row's mean and variance in double, two passes over the row while it is in
// cache, then the normalisation), and PyTorch's backward: the input gradient row by row, the
// weight and bias sums channel by channel. The formulas are kernels/common/group_norm_functors.h,
// shared with the CUDA kernels. Rows (and channels) run in parallel (parallel_for.h), each sum in
// one order on one thread: the same bits for any thread count.
#include "kernels/common/group_norm_functors.h"
#include "kernels/cpu/float_staging.h"
#include "kernels/cpu/lane_sum.h"
#include "kernels/cpu/parallel_for.h"
#include "kernels/cpu/register.h"

namespace tandem::kernels::cpu {

template <typename T>
void group_norm_forward(const GroupNormLayout& l, double eps, const T* x, const T* w, const T* b,
                        T* y, double* mean, double* rstd) {
  const int64_t d = l.row_size();
  parallel_for_each(l.rows(), d, [&](int64_t r) {
    const T* p = x + r * d;
    const double m = lane_sum(d, [p](int64_t i) { return double(p[i]); }) / double(d);
    const double var = lane_sum(d,
                                [p, m](int64_t i) {
                                  const double v = double(p[i]) - m;
                                  return v * v;
                                }) /
                       double(d);
    const double is = group_norm_invstd(var, eps);
    mean[r] = m;
    rstd[r] = is;
    const int64_t c0 = (r % l.G) * l.B;  // the row's first channel
    T* q = y + r * d;
    for (int64_t c = 0; c < l.B; ++c) {
      const BatchNormAffine<T> f =
          batch_norm_affine(m, is, w ? w + c0 + c : nullptr, b ? b + c0 + c : nullptr);
      for (int64_t s = 0; s < l.S; ++s) q[c * l.S + s] = batch_norm_normalize(f, p[c * l.S + s]);
    }
  });
}

// sum(gy) and sum(gy * (x - m)) over the s elements of one channel of one row.
template <typename T>
void channel_sums(const T* x, const T* gy, int64_t s, double m, double& sg, double& sgx) {
  if (s == 1) {  // layer norm: one element per channel
    sg = double(*gy);
    sgx = double(*gy) * (double(*x) - m);
    return;
  }
  sg = lane_sum(s, [gy](int64_t i) { return double(gy[i]); });
  sgx = lane_sum(s, [gy, x, m](int64_t i) { return double(gy[i]) * (double(x[i]) - m); });
}

template <typename T>
void group_norm_backward(const GroupNormLayout& l, const T* x, const T* gy, const double* mean,
                         const double* rstd, const T* w, T* gx, double* sum_gy,
                         double* sum_gy_xhat) {
  const int64_t d = l.row_size(), S = l.S;
  if (gx) {
    parallel_for_each(l.rows(), d, [&](int64_t r) {
      const T *xp = x + r * d, *gp = gy + r * d;
      const T* wr = w ? w + (r % l.G) * l.B : nullptr;
      const double m = mean[r];
      double swg = 0, swgx = 0;  // sum(w * gy), sum(w * gy * (x - m))
      if (S == 1) {
        swg = lane_sum(d, [&](int64_t i) { return (wr ? double(wr[i]) : 1.0) * double(gp[i]); });
        swgx = lane_sum(d, [&](int64_t i) {
          return (wr ? double(wr[i]) : 1.0) * double(gp[i]) * (double(xp[i]) - m);
        });
      } else {
        for (int64_t c = 0; c < l.B; ++c) {
          double sg, sgx;
          channel_sums(xp + c * S, gp + c * S, S, m, sg, sgx);
          const double wc = wr ? double(wr[c]) : 1.0;
          swg += wc * sg;
          swgx += wc * sgx;
        }
      }
      const GroupNormGrad coef = group_norm_grad(rstd[r], swg, swgx, double(d));
      T* out = gx + r * d;
      for (int64_t c = 0; c < l.B; ++c) {
        const double wc = wr ? double(wr[c]) : 1.0;
        for (int64_t s = 0; s < S; ++s)
          out[c * S + s] = group_norm_grad_input(coef, wc, gp[c * S + s], xp[c * S + s], m);
      }
    });
  }
  if (!sum_gy) return;
  // Per channel, summed over the samples in order; a chunk of channels per thread walks the
  // samples once (for layer norm: row after row over its columns).
  const int64_t C = l.channels();
  parallel_for(0, C, grain_for(l.N * S), [&](int64_t cb, int64_t ce) {
    for (int64_t c = cb; c < ce; ++c) sum_gy[c] = sum_gy_xhat[c] = 0;
    for (int64_t n = 0; n < l.N; ++n)
      for (int64_t c = cb; c < ce; ++c) {
        const int64_t r = n * l.G + c / l.B, at = (n * C + c) * S;
        double sg, sgx;
        channel_sums(x + at, gy + at, S, mean[r], sg, sgx);
        sum_gy[c] += sg;
        sum_gy_xhat[c] += sgx * rstd[r];
      }
  });
}

// float16/bfloat16 input (with float32 or half parameters) runs the float kernels through
// FloatStaging; the statistics are float64 either way.

void group_norm_forward_cpu(const KernelContext& ctx, const GroupNormLayout& l, double eps,
                            const Buffer& x, const Buffer& w, const Buffer& b, const Buffer& y,
                            const Buffer& mean, const Buffer& rstd) {
  if (is_half(x.dtype)) {
    FloatStaging f;
    const int64_t n = l.numel(), c = l.channels();
    group_norm_forward_cpu(ctx, l, eps, f.input(x, n), f.input(w, c), f.input(b, c), f.output(y, n),
                           mean, rstd);
    return f.finish();
  }
  dispatch_floating(x.dtype, "group_norm", [&](auto tag) {
    using T = typename decltype(tag)::type;
    group_norm_forward<T>(l, eps, x.as<const T>(), w.as<const T>(), b.as<const T>(), y.as<T>(),
                          mean.as<double>(), rstd.as<double>());
  });
}

void group_norm_backward_cpu(const KernelContext& ctx, const GroupNormLayout& l, const Buffer& x,
                             const Buffer& grad_y, const Buffer& mean, const Buffer& rstd,
                             const Buffer& w, const Buffer& grad_x, const Buffer& sum_gy,
                             const Buffer& sum_gy_xhat) {
  if (is_half(x.dtype)) {
    FloatStaging f;
    const int64_t n = l.numel();
    group_norm_backward_cpu(ctx, l, f.input(x, n), f.input(grad_y, n), mean, rstd,
                            f.input(w, l.channels()), f.output(grad_x, n), sum_gy, sum_gy_xhat);
    return f.finish();
  }
  dispatch_floating(x.dtype, "group_norm_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    group_norm_backward<T>(l, x.as<const T>(), grad_y.as<const T>(), mean.as<const double>(),
                           rstd.as<const double>(), w.as<const T>(), grad_x.as<T>(),
                           sum_gy.as<double>(), sum_gy_xhat.as<double>());
  });
}

TANDEM_REGISTER_CPU_KERNEL(group_norm_forward, group_norm_forward_cpu);
TANDEM_REGISTER_CPU_KERNEL(group_norm_backward, group_norm_backward_cpu);

}  // namespace tandem::kernels::cpu
