// CUDA batch normalisation over (N, C, S), with the CPU kernels' formulas
// (kernels/common/batch_norm_functors.h). Statistics and the backward's sums: a block per channel,
// its threads walking the channel's N*S elements in a fixed assignment
// (kernels/common/channel_walk.h: no division per element) and accumulating in double, combined in
// a shared-memory tree of fixed shape, so every run gives the same bits (close to, not bitwise
// equal to, the CPU's 8-lane sums). The normalisation: a grid-stride loop over the elements. A
// half-type input (with float32 or half parameters) runs through FloatStaging.
#include <cuda_runtime.h>

#include "kernels/common/batch_norm_functors.h"
#include "kernels/common/channel_walk.h"
#include "kernels/common/dtype.h"
#include "kernels/cuda/block_sum.cuh"
#include "kernels/cuda/check.h"
#include "kernels/cuda/float_staging.h"
#include "kernels/cuda/launch.cuh"
#include "kernels/kernel_table.h"

namespace tandem::kernels::cuda {
namespace {

constexpr int kBlock = 512;  // threads per channel: a power of two (the tree halves it)
constexpr int64_t kMaxGrid = 65535;

// mean = sum(x) / n, then var = sum((x - mean)^2) / n (two passes, as on the CPU).
template <typename T>
__global__ void __launch_bounds__(kBlock)
    stats_kernel(const T* x, int64_t N, int64_t C, int64_t S, double* mean, double* var) {
  __shared__ double part[kBlock];
  const int64_t count = N * S;
  for (int64_t c = blockIdx.x; c < C; c += gridDim.x) {
    double acc = 0;
    ChannelElementWalk at(threadIdx.x, kBlock, c, C, S);
    for (int64_t e = threadIdx.x; e < count; e += kBlock, at.advance()) acc += double(x[at.offset]);
    const double m = block_sum<kBlock>(acc, part) / double(count);
    double sq = 0;
    at = ChannelElementWalk(threadIdx.x, kBlock, c, C, S);
    for (int64_t e = threadIdx.x; e < count; e += kBlock, at.advance()) {
      const double d = double(x[at.offset]) - m;
      sq += d * d;
    }
    const double v = block_sum<kBlock>(sq, part) / double(count);
    if (threadIdx.x == 0) {
      mean[c] = m;
      var[c] = v;
    }
  }
}

// Grid-stride over the elements, each thread following its elements' channel (ChannelIndexWalk).
template <typename T>
__global__ void apply_kernel(const T* x, const double* mean, const double* invstd, const T* w,
                             const T* b, T* y, int64_t C, int64_t S, int64_t n) {
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  ChannelIndexWalk at(thread_index(), step, C, S);
  for (int64_t i = thread_index(); i < n; i += step, at.advance()) {
    const int64_t c = at.channel;
    const BatchNormAffine<T> f =
        batch_norm_affine(mean[c], invstd[c], w ? w + c : nullptr, b ? b + c : nullptr);
    y[i] = batch_norm_normalize(f, x[i]);
  }
}

// sum(gy) and sum(gy * (x - mean)) * invstd per channel, then (when gx is wanted) gx.
template <typename T>
__global__ void __launch_bounds__(kBlock)
    backward_kernel(const T* x, const T* gy, const double* mean, const double* invstd, const T* w,
                    bool train, T* gx, double* sum_gy, double* sum_gy_xhat, int64_t N, int64_t C,
                    int64_t S) {
  __shared__ double part[kBlock];
  const int64_t count = N * S;
  for (int64_t c = blockIdx.x; c < C; c += gridDim.x) {
    const double m = mean[c], is = invstd[c];
    double sg = 0, sgx = 0;
    ChannelElementWalk at(threadIdx.x, kBlock, c, C, S);
    for (int64_t e = threadIdx.x; e < count; e += kBlock, at.advance()) {
      const double g = double(gy[at.offset]);
      sg += g;
      sgx += g * (double(x[at.offset]) - m);
    }
    sg = block_sum<kBlock>(sg, part);
    sgx = block_sum<kBlock>(sgx, part) * is;
    if (threadIdx.x == 0) {
      sum_gy[c] = sg;
      sum_gy_xhat[c] = sgx;
    }
    if (!gx) continue;
    const BatchNormGrad coef =
        batch_norm_grad(w ? double(w[c]) : 1.0, is, sg, sgx, double(count), train);
    at = ChannelElementWalk(threadIdx.x, kBlock, c, C, S);
    for (int64_t e = threadIdx.x; e < count; e += kBlock, at.advance())
      gx[at.offset] = batch_norm_grad_input(coef, gy[at.offset], x[at.offset], m);
  }
}

unsigned channel_blocks(int64_t C) { return unsigned(C < kMaxGrid ? C : kMaxGrid); }

void batch_norm_stats_cuda(const KernelContext& ctx, const ChannelLayout& l, const Buffer& x,
                           const Buffer& mean, const Buffer& var) {
  if (is_half(x.dtype)) {  // float32 kernels: staged (float_staging.h)
    FloatStaging f(ctx);
    batch_norm_stats_cuda(ctx, l, f.input(x, l.N * l.C * l.S), mean, var);
    return f.finish();
  }
  if (l.C == 0) return;
  dispatch_cuda_floating(x.dtype, "batch_norm", [&](auto tag) {
    using T = typename decltype(tag)::type;
    TANDEM_LAUNCH(channel_blocks(l.C), kBlock, 0, stream_of(ctx), stats_kernel)
    (x.as<const T>(), l.N, l.C, l.S, mean.as<double>(), var.as<double>());
  });
  TANDEM_CUDA_CHECK(cudaGetLastError());
}

void batch_norm_apply_cuda(const KernelContext& ctx, const ChannelLayout& l, const Buffer& x,
                           const Buffer& mean, const Buffer& invstd, const Buffer& w,
                           const Buffer& b, const Buffer& y) {
  if (is_half(x.dtype)) {  // float32 kernels: staged (float_staging.h)
    FloatStaging f(ctx);
    batch_norm_apply_cuda(ctx, l, f.input(x, l.N * l.C * l.S), mean, invstd, f.input(w, l.C),
                          f.input(b, l.C), f.output(y, l.N * l.C * l.S));
    return f.finish();
  }
  const int64_t n = l.N * l.C * l.S;
  if (n == 0) return;
  dispatch_cuda_floating(x.dtype, "batch_norm", [&](auto tag) {
    using T = typename decltype(tag)::type;
    TANDEM_LAUNCH(grid_stride_blocks(n), kThreads, 0, stream_of(ctx), apply_kernel)
    (x.as<const T>(), mean.as<const double>(), invstd.as<const double>(), w.as<const T>(),
     b.as<const T>(), y.as<T>(), l.C, l.S, n);
  });
  TANDEM_CUDA_CHECK(cudaGetLastError());
}

void batch_norm_backward_cuda(const KernelContext& ctx, const ChannelLayout& l, bool train,
                              const Buffer& x, const Buffer& grad_y, const Buffer& mean,
                              const Buffer& invstd, const Buffer& w, const Buffer& grad_x,
                              const Buffer& sum_gy, const Buffer& sum_gy_xhat) {
  if (is_half(x.dtype)) {  // float32 kernels: staged (float_staging.h)
    FloatStaging f(ctx);
    batch_norm_backward_cuda(ctx, l, train, f.input(x, l.N * l.C * l.S),
                             f.input(grad_y, l.N * l.C * l.S), mean, invstd, f.input(w, l.C),
                             f.output(grad_x, l.N * l.C * l.S), sum_gy, sum_gy_xhat);
    return f.finish();
  }
  if (l.C == 0) return;
  dispatch_cuda_floating(x.dtype, "batch_norm_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    TANDEM_LAUNCH(channel_blocks(l.C), kBlock, 0, stream_of(ctx), backward_kernel)
    (x.as<const T>(), grad_y.as<const T>(), mean.as<const double>(), invstd.as<const double>(),
     w.as<const T>(), train, grad_x.as<T>(), sum_gy.as<double>(), sum_gy_xhat.as<double>(), l.N,
     l.C, l.S);
  });
  TANDEM_CUDA_CHECK(cudaGetLastError());
}

}  // namespace

TANDEM_REGISTER_CUDA_KERNEL(batch_norm_stats, batch_norm_stats_cuda);
TANDEM_REGISTER_CUDA_KERNEL(batch_norm_apply, batch_norm_apply_cuda);
TANDEM_REGISTER_CUDA_KERNEL(batch_norm_backward, batch_norm_backward_cuda);

}  // namespace tandem::kernels::cuda
