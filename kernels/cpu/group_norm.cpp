// CPU group and layer normalisation over (N, G, B, S) (GroupNormLayout): one fused pass per row
// for the forward (the row's mean and variance in double, two passes over the row while it is in
// cache, then the normalisation), and PyTorch's backward in one walk over the rows: each row's
// input gradient and its share of the weight and bias sums. The formulas are
// kernels/common/group_norm_functors.h, shared with the CUDA kernels. Rows (and channels) run in
// parallel (parallel_for.h), each sum in an order fixed by the shape: the same bits for any thread
// count. The rows' work is built for the baseline and for AVX2 (isa.h), with the same bits.
#include <algorithm>
#include <tuple>    // std::tie
#include <utility>  // std::pair

#include "kernels/common/group_norm_functors.h"
#include "kernels/cpu/float_staging.h"
#include "kernels/cpu/isa.h"
#include "kernels/cpu/lane_sum.h"
#include "kernels/cpu/parallel_for.h"
#include "kernels/cpu/register.h"
#include "kernels/cpu/scratch.h"

namespace tandem::kernels::cpu {

template <typename T>
void group_norm_forward(const GroupNormLayout& l, double eps, const T* x, const T* w, const T* b,
                        T* y, double* mean, double* rstd) {
  const int64_t d = l.row_size();
  parallel_for_each_isa(l.rows(), d, [&](int64_t r) TANDEM_INLINE_LAMBDA {
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
    if (l.S == 1) {  // one loop over the row, which vectorises (a loop of S == 1 would not)
      const T *wc = w ? w + c0 : nullptr, *bc = b ? b + c0 : nullptr;
      for (int64_t i = 0; i < d; ++i)
        q[i] = batch_norm_normalize(
            batch_norm_affine(m, is, wc ? wc + i : nullptr, bc ? bc + i : nullptr), p[i]);
      return;
    }
    for (int64_t c = 0; c < l.B; ++c) {
      const BatchNormAffine<T> f =
          batch_norm_affine(m, is, w ? w + c0 + c : nullptr, b ? b + c0 + c : nullptr);
      for (int64_t s = 0; s < l.S; ++s) q[c * l.S + s] = batch_norm_normalize(f, p[c * l.S + s]);
    }
  });
}

// The backward in one walk over x and gy: a row's sums, its input gradient while the row is in
// cache, and its terms of the weight and bias sums, sum(gy) and sum(gy * xhat) per channel over the
// samples. Those are made per block of R samples (the block's partial sums, in sample order) and
// then summed over the blocks in order: a grouping fixed by the shape alone, so the same bits for
// any thread count. With S > 1 a channel's S elements already make one term per sample: R = 1, a
// term per (sample, channel), summed over the samples in order. Layer norm (S == 1) has a term per
// element: blocks of about a grain of elements, whose partial sums (a double per channel) stay in
// cache while the block's rows pass.
template <typename T>
void group_norm_backward(const GroupNormLayout& l, const T* x, const T* gy, const double* mean,
                         const double* rstd, const T* w, T* gx, double* sum_gy,
                         double* sum_gy_xhat) {
  const int64_t d = l.row_size(), N = l.N, G = l.G, B = l.B, S = l.S, C = l.channels();
  const bool params = sum_gy != nullptr;
  const int64_t R = S > 1 ? 1 : std::clamp<int64_t>(kParallelGrain / std::max<int64_t>(1, C), 1, N);
  const int64_t blocks = (N + R - 1) / R;
  // The partial sums live in the calling thread's scratch: a training step allocates nothing.
  double* part_g = params ? thread_scratch<double>(0, size_t(2 * blocks * C)) : nullptr;
  double* part_gx = params ? part_g + blocks * C : nullptr;
  if (params) std::fill(part_g, part_g + 2 * blocks * C, 0.0);
  // An item is one group's rows in one block of samples: it alone writes its partial sums.
  parallel_for_each_isa(blocks * G, R * d, [&](int64_t item) TANDEM_INLINE_LAMBDA {
    const int64_t blk = item / G, g = item % G;
    const T* wg = w ? w + g * B : nullptr;
    double* pg = params ? part_g + blk * C + g * B : nullptr;
    double* pgx = params ? part_gx + blk * C + g * B : nullptr;
    for (int64_t n = blk * R; n < std::min(N, blk * R + R); ++n) {
      const int64_t r = n * G + g;
      const T *xp = x + r * d, *gp = gy + r * d;
      const double m = mean[r], is = rstd[r];
      double swg = 0, swgx = 0;  // sum(w * gy), sum(w * gy * (x - m))
      if (S == 1) {
        // Separate loops with and without a weight (x 1.0 changes no bit), so neither branches.
        if (gx && wg)
          std::tie(swg, swgx) = lane_sum2(d, [&](int64_t i) {
            const double wgy = double(wg[i]) * double(gp[i]);
            return std::pair<double, double>(wgy, wgy * (double(xp[i]) - m));
          });
        else if (gx)
          std::tie(swg, swgx) = lane_sum2(d, [&](int64_t i) {
            const double wgy = double(gp[i]);
            return std::pair<double, double>(wgy, wgy * (double(xp[i]) - m));
          });
        if (params)
          for (int64_t i = 0; i < d; ++i) {
            pg[i] += double(gp[i]);
            pgx[i] += double(gp[i]) * (double(xp[i]) - m) * is;
          }
      } else {
        for (int64_t c = 0; c < B; ++c) {
          const T *xc = xp + c * S, *gc = gp + c * S;
          const auto [sg, sgx] = lane_sum2(S, [&](int64_t i) {
            const double gi = double(gc[i]);
            return std::pair<double, double>(gi, gi * (double(xc[i]) - m));
          });
          const double wc = wg ? double(wg[c]) : 1.0;
          swg += wc * sg;
          swgx += wc * sgx;
          if (params) {
            pg[c] += sg;
            pgx[c] += sgx * is;
          }
        }
      }
      if (!gx) continue;
      const GroupNormGrad coef = group_norm_grad(is, swg, swgx, double(d));
      T* out = gx + r * d;
      if (S == 1 && wg)  // one loop over the row, which vectorises (a loop of S == 1 would not)
        for (int64_t i = 0; i < d; ++i)
          out[i] = group_norm_grad_input(coef, double(wg[i]), gp[i], xp[i], m);
      else if (S == 1)
        for (int64_t i = 0; i < d; ++i) out[i] = group_norm_grad_input(coef, 1.0, gp[i], xp[i], m);
      else
        for (int64_t c = 0; c < B; ++c) {
          const double wc = wg ? double(wg[c]) : 1.0;
          for (int64_t s = 0; s < S; ++s)
            out[c * S + s] = group_norm_grad_input(coef, wc, gp[c * S + s], xp[c * S + s], m);
        }
    }
  });
  if (!params) return;
  parallel_for(0, C, grain_for(blocks), [&](int64_t cb, int64_t ce) {
    for (int64_t c = cb; c < ce; ++c) sum_gy[c] = sum_gy_xhat[c] = 0;
    for (int64_t k = 0; k < blocks; ++k)
      for (int64_t c = cb; c < ce; ++c) {
        sum_gy[c] += part_g[k * C + c];
        sum_gy_xhat[c] += part_gx[k * C + c];
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
