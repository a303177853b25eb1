// CUDA group and layer normalisation over (N, G, B, S) (GroupNormLayout), with the CPU kernels'
// formulas (kernels/common/group_norm_functors.h). Forward and input gradient: a block per row,
// its threads striding over the row and their double sums combined by block_sum's fixed tree;
// the weight and bias sums: a thread per channel walking the samples in order. No atomics, so
// every run gives the same bits (close to, not bitwise equal to, the CPU's 8-lane sums). A
// half-type input (with float32 or half parameters) runs through FloatStaging.
#include <cuda_runtime.h>

#include "kernels/common/dtype.h"
#include "kernels/common/group_norm_functors.h"
#include "kernels/cuda/block_sum.cuh"
#include "kernels/cuda/check.h"
#include "kernels/cuda/float_staging.h"
#include "kernels/cuda/launch.cuh"
#include "kernels/kernel_table.h"

namespace tandem::kernels::cuda {
namespace {

constexpr unsigned kBlock = 256;  // threads per row: a power of two (block_sum's tree)
constexpr int64_t kMaxGrid = 65535;

unsigned row_blocks(int64_t rows) { return unsigned(rows < kMaxGrid ? rows : kMaxGrid); }

// Two passes for the mean and the biased variance, then y, one row per block.
template <typename T>
__global__ void __launch_bounds__(kBlock)
    forward_kernel(GroupNormLayout l, double eps, const T* x, const T* w, const T* b, T* y,
                   double* mean, double* rstd) {
  __shared__ double part[kBlock];
  const int64_t d = l.B * l.S;
  for (int64_t r = blockIdx.x; r < l.N * l.G; r += gridDim.x) {
    const T* p = x + r * d;
    double acc = 0;
    for (int64_t i = threadIdx.x; i < d; i += kBlock) acc += double(p[i]);
    const double m = block_sum<kBlock>(acc, part) / double(d);
    double sq = 0;
    for (int64_t i = threadIdx.x; i < d; i += kBlock) {
      const double v = double(p[i]) - m;
      sq += v * v;
    }
    const double is = group_norm_invstd(block_sum<kBlock>(sq, part) / double(d), eps);
    if (threadIdx.x == 0) {
      mean[r] = m;
      rstd[r] = is;
    }
    const int64_t c0 = (r % l.G) * l.B;
    for (int64_t i = threadIdx.x; i < d; i += kBlock) {
      const int64_t c = c0 + i / l.S;
      const BatchNormAffine<T> f =
          batch_norm_affine(m, is, w ? w + c : nullptr, b ? b + c : nullptr);
      y[r * d + i] = batch_norm_normalize(f, p[i]);
    }
  }
}

// The row's sum(w * gy) and sum(w * gy * (x - mean)), then gx, one row per block.
template <typename T>
__global__ void __launch_bounds__(kBlock)
    grad_input_kernel(GroupNormLayout l, const T* x, const T* gy, const double* mean,
                      const double* rstd, const T* w, T* gx) {
  __shared__ double part[kBlock];
  const int64_t d = l.B * l.S;
  for (int64_t r = blockIdx.x; r < l.N * l.G; r += gridDim.x) {
    const T *xp = x + r * d, *gp = gy + r * d;
    const int64_t c0 = (r % l.G) * l.B;
    const double m = mean[r];
    double swg = 0, swgx = 0;
    for (int64_t i = threadIdx.x; i < d; i += kBlock) {
      const double wg = (w ? double(w[c0 + i / l.S]) : 1.0) * double(gp[i]);
      swg += wg;
      swgx += wg * (double(xp[i]) - m);
    }
    swg = block_sum<kBlock>(swg, part);
    swgx = block_sum<kBlock>(swgx, part);
    const GroupNormGrad coef = group_norm_grad(rstd[r], swg, swgx, double(d));
    for (int64_t i = threadIdx.x; i < d; i += kBlock) {
      const double wc = w ? double(w[c0 + i / l.S]) : 1.0;
      gx[r * d + i] = group_norm_grad_input(coef, wc, gp[i], xp[i], m);
    }
  }
}

// Per channel: sum(gy) and sum(gy * xhat) over the samples, a thread per channel in order.
template <typename T>
__global__ void param_sums_kernel(GroupNormLayout l, const T* x, const T* gy, const double* mean,
                                  const double* rstd, double* sum_gy, double* sum_gy_xhat) {
  const int64_t C = l.G * l.B;
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t c = thread_index(); c < C; c += step) {
    double sg = 0, sgx = 0;
    for (int64_t n = 0; n < l.N; ++n) {
      const int64_t r = n * l.G + c / l.B, at = (n * C + c) * l.S;
      const double m = mean[r];
      double rg = 0, rgx = 0;
      for (int64_t s = 0; s < l.S; ++s) {
        const double g = double(gy[at + s]);
        rg += g;
        rgx += g * (double(x[at + s]) - m);
      }
      sg += rg;
      sgx += rgx * rstd[r];
    }
    sum_gy[c] = sg;
    sum_gy_xhat[c] = sgx;
  }
}

void group_norm_forward_cuda(const KernelContext& ctx, const GroupNormLayout& l, double eps,
                             const Buffer& x, const Buffer& w, const Buffer& b, const Buffer& y,
                             const Buffer& mean, const Buffer& rstd) {
  if (is_half(x.dtype)) {  // float32 kernels: staged (float_staging.h)
    FloatStaging f(ctx);
    const int64_t n = l.numel(), c = l.channels();
    group_norm_forward_cuda(ctx, l, eps, f.input(x, n), f.input(w, c), f.input(b, c),
                            f.output(y, n), mean, rstd);
    return f.finish();
  }
  if (l.rows() == 0) return;
  dispatch_cuda_floating(x.dtype, "group_norm", [&](auto tag) {
    using T = typename decltype(tag)::type;
    TANDEM_LAUNCH(row_blocks(l.rows()), kBlock, 0, stream_of(ctx), forward_kernel)
    (l, eps, x.as<const T>(), w.as<const T>(), b.as<const T>(), y.as<T>(), mean.as<double>(),
     rstd.as<double>());
  });
  TANDEM_CUDA_CHECK(cudaGetLastError());
}

void group_norm_backward_cuda(const KernelContext& ctx, const GroupNormLayout& l, const Buffer& x,
                              const Buffer& grad_y, const Buffer& mean, const Buffer& rstd,
                              const Buffer& w, const Buffer& grad_x, const Buffer& sum_gy,
                              const Buffer& sum_gy_xhat) {
  if (is_half(x.dtype)) {  // float32 kernels: staged (float_staging.h)
    FloatStaging f(ctx);
    const int64_t n = l.numel();
    group_norm_backward_cuda(ctx, l, f.input(x, n), f.input(grad_y, n), mean, rstd,
                             f.input(w, l.channels()), f.output(grad_x, n), sum_gy, sum_gy_xhat);
    return f.finish();
  }
  if (l.numel() == 0) return;
  dispatch_cuda_floating(x.dtype, "group_norm_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (grad_x.data) {
      TANDEM_LAUNCH(row_blocks(l.rows()), kBlock, 0, stream_of(ctx), grad_input_kernel)
      (l, x.as<const T>(), grad_y.as<const T>(), mean.as<const double>(), rstd.as<const double>(),
       w.as<const T>(), grad_x.as<T>());
    }
    if (sum_gy.data) {
      TANDEM_LAUNCH(grid_stride_blocks(l.channels()), kThreads, 0, stream_of(ctx),
                    param_sums_kernel)
      (l, x.as<const T>(), grad_y.as<const T>(), mean.as<const double>(), rstd.as<const double>(),
       sum_gy.as<double>(), sum_gy_xhat.as<double>());
    }
  });
  TANDEM_CUDA_CHECK(cudaGetLastError());
}

}  // namespace

TANDEM_REGISTER_CUDA_KERNEL(group_norm_forward, group_norm_forward_cuda);
TANDEM_REGISTER_CUDA_KERNEL(group_norm_backward, group_norm_backward_cuda);

}  // namespace tandem::kernels::cuda
