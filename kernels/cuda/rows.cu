// CUDA kernels that work a row at a time, one thread per row, with the CPU kernels' arithmetic
// (kernels/common/row_functors.h): softmax and log_softmax with their backward, max along a dim
// (value and first index), and the negative log-likelihood forward and backward. A row is
// (o, j) of an (outer, n, inner) block: n elements with stride inner. Softmax rows of contiguous
// elements (inner == 1) take a warp each instead.
#include <cuda_runtime.h>

#include "kernels/common/dtype.h"
#include "kernels/common/row_functors.h"
#include "kernels/cuda/bad_index_report.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/float_staging.h"
#include "kernels/cuda/launch.cuh"
#include "kernels/kernel_table.h"

namespace tandem::kernels::cuda {
namespace {

template <typename T>
__global__ void softmax_kernel(const T* in, T* out, int64_t outer, int64_t n, int64_t inner,
                               bool log) {
  const int64_t r = thread_index();
  if (r >= outer * inner) return;
  const int64_t base = (r / inner) * n * inner + r % inner;
  softmax_row(in + base, out + base, n, inner, log);
}

template <typename T>
__global__ void softmax_backward_kernel(const T* grad, const T* out, T* grad_in, int64_t outer,
                                        int64_t n, int64_t inner, bool log) {
  const int64_t r = thread_index();
  if (r >= outer * inner) return;
  const int64_t base = (r / inner) * n * inner + r % inner;
  softmax_backward_row(grad + base, out + base, grad_in + base, n, inner, log);
}

// Rows of contiguous elements (inner == 1: a classifier's logits, one row per sample) get a warp
// each: its lanes read the row together (coalesced) and combine their partial max and sums in a
// butterfly of shuffles, of fixed shape, so every run gives the same bits. Each lane applies the
// same per-element steps as softmax_row (kernels/common/row_functors.h).
constexpr int kWarp = 32;
constexpr unsigned kFullMask = 0xffffffffu;

template <typename T>
__device__ T warp_max(T v) {
  for (int o = kWarp / 2; o > 0; o /= 2) v = softmax_max(v, T(__shfl_xor_sync(kFullMask, v, o)));
  return v;
}

// Every lane gets the same total: a + b and b + a are the same double.
__device__ double warp_sum(double v) {
  for (int o = kWarp / 2; o > 0; o /= 2) v += __shfl_xor_sync(kFullMask, v, o);
  return v;
}

// The warp's row (warp-uniform, so a warp leaves together and its shuffles see every lane).
__device__ inline int64_t warp_row() {
  return int64_t(blockIdx.x) * (blockDim.x / kWarp) + threadIdx.x / kWarp;
}

template <typename T>
__global__ void softmax_warp_kernel(const T* in, T* out, int64_t rows, int64_t n, bool log) {
  const int64_t row = warp_row();
  if (row >= rows) return;
  const int lane = int(threadIdx.x % kWarp);
  const T* x = in + row * n;
  T* y = out + row * n;
  T mx = -T(INFINITY);
  for (int64_t i = lane; i < n; i += kWarp) mx = softmax_max(mx, x[i]);
  mx = warp_max(mx);
  double total = 0;
  for (int64_t i = lane; i < n; i += kWarp) total += double(T(std::exp(x[i] - mx)));
  total = warp_sum(total);
  if (log) {
    const T lse = T(std::log(total));
    for (int64_t i = lane; i < n; i += kWarp) y[i] = x[i] - mx - lse;
  } else {
    const T inv = T(1.0 / total);
    for (int64_t i = lane; i < n; i += kWarp) y[i] = T(std::exp(x[i] - mx)) * inv;
  }
}

template <typename T>
__global__ void softmax_backward_warp_kernel(const T* grad, const T* out, T* grad_in, int64_t rows,
                                             int64_t n, bool log) {
  const int64_t row = warp_row();
  if (row >= rows) return;
  const int lane = int(threadIdx.x % kWarp);
  const T* g = grad + row * n;
  const T* y = out + row * n;
  T* gi = grad_in + row * n;
  double acc = 0;
  for (int64_t i = lane; i < n; i += kWarp) acc += log ? double(g[i]) : double(g[i]) * double(y[i]);
  acc = warp_sum(acc);
  for (int64_t i = lane; i < n; i += kWarp)
    gi[i] = log ? g[i] - std::exp(y[i]) * T(acc) : y[i] * (g[i] - T(acc));
}

// Blocks of kThreads for a warp per row.
unsigned warp_row_blocks(int64_t rows) {
  constexpr int64_t kRowsPerBlock = kThreads / kWarp;
  return unsigned((rows + kRowsPerBlock - 1) / kRowsPerBlock);
}

template <typename T>
__global__ void max_along_kernel(const T* in, T* values, int64_t* indices, int64_t outer, int64_t n,
                                 int64_t inner) {
  const int64_t r = thread_index();
  if (r >= outer * inner) return;
  max_of_row(in + (r / inner) * n * inner + r % inner, n, inner, values[r], indices[r]);
}

template <typename T>
__global__ void nll_forward_kernel(const T* lp, const int64_t* target, const T* weight, int64_t n,
                                   int64_t c, int64_t inner, int64_t ignore_index,
                                   BadIndexReport* report, T* loss, T* sample_weight) {
  const int64_t s = thread_index();
  if (s >= n * inner) return;
  nll_sample(lp + (s / inner) * c * inner + s % inner, inner, c, target[s], weight, ignore_index,
             report, loss[s], sample_weight[s]);
}

template <typename T>
__global__ void nll_backward_kernel(const T* grad, const int64_t* target, const T* weight,
                                    int64_t n, int64_t c, int64_t inner, int64_t ignore_index,
                                    T* grad_in) {
  const int64_t s = thread_index();
  if (s >= n * inner) return;
  const int64_t t = target[s];
  if (!nll_counts(t, c, ignore_index)) return;
  grad_in[((s / inner) * c + t) * inner + s % inner] = -(weight ? weight[t] : T(1)) * grad[s];
}

void softmax_forward_cuda(const KernelContext& ctx, const Slab& s, bool log, const Buffer& in,
                          const Buffer& out) {
  if (is_half(in.dtype)) {  // float32 kernels: staged (float_staging.h)
    FloatStaging f(ctx);
    softmax_forward_cuda(ctx, s, log, f.input(in, s.outer * s.n * s.inner),
                         f.output(out, s.outer * s.n * s.inner));
    return f.finish();
  }
  const int64_t rows = s.outer * s.inner;
  if (rows == 0 || s.n == 0) return;
  dispatch_cuda_floating(in.dtype, log ? "log_softmax" : "softmax", [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (s.inner == 1) {
      TANDEM_LAUNCH(warp_row_blocks(rows), kThreads, 0, stream_of(ctx), softmax_warp_kernel)
      (in.as<const T>(), out.as<T>(), rows, s.n, log);
    } else {
      TANDEM_LAUNCH(blocks_for(rows), kThreads, 0, stream_of(ctx), softmax_kernel)
      (in.as<const T>(), out.as<T>(), s.outer, s.n, s.inner, log);
    }
  });
  TANDEM_CUDA_CHECK(cudaGetLastError());
}

void softmax_backward_cuda(const KernelContext& ctx, const Slab& s, bool log, const Buffer& grad,
                           const Buffer& out, const Buffer& grad_in) {
  if (is_half(grad.dtype)) {  // float32 kernels: staged (float_staging.h)
    FloatStaging f(ctx);
    softmax_backward_cuda(ctx, s, log, f.input(grad, s.outer * s.n * s.inner),
                          f.input(out, s.outer * s.n * s.inner),
                          f.output(grad_in, s.outer * s.n * s.inner));
    return f.finish();
  }
  const int64_t rows = s.outer * s.inner;
  if (rows == 0 || s.n == 0) return;
  dispatch_cuda_floating(grad.dtype, "softmax_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (s.inner == 1) {
      TANDEM_LAUNCH(warp_row_blocks(rows), kThreads, 0, stream_of(ctx),
                    softmax_backward_warp_kernel)
      (grad.as<const T>(), out.as<const T>(), grad_in.as<T>(), rows, s.n, log);
    } else {
      TANDEM_LAUNCH(blocks_for(rows), kThreads, 0, stream_of(ctx), softmax_backward_kernel)
      (grad.as<const T>(), out.as<const T>(), grad_in.as<T>(), s.outer, s.n, s.inner, log);
    }
  });
  TANDEM_CUDA_CHECK(cudaGetLastError());
}

void max_along_cuda(const KernelContext& ctx, const Slab& s, const Buffer& in, const Buffer& values,
                    const Buffer& indices) {
  const int64_t rows = s.outer * s.inner;
  if (rows == 0) return;
  dispatch_arithmetic_or_half(in.dtype, "max", [&](auto tag) {
    using T = typename decltype(tag)::type;
    TANDEM_LAUNCH(blocks_for(rows), kThreads, 0, stream_of(ctx), max_along_kernel)
    (in.as<const T>(), values.as<T>(), indices.as<int64_t>(), s.outer, s.n, s.inner);
  });
  TANDEM_CUDA_CHECK(cudaGetLastError());
}

void nll_forward_cuda(const KernelContext& ctx, const ClassLayout& l, int64_t ignore_index,
                      const Buffer& log_probs, const Buffer& target, const Buffer& weight,
                      const Buffer& loss, const Buffer& sample_weight) {
  const int64_t samples = l.n * l.inner;
  if (samples == 0) return;
  dispatch_cuda_floating(log_probs.dtype, "nll_loss", [&](auto tag) {
    using T = typename decltype(tag)::type;
    TANDEM_LAUNCH(blocks_for(samples), kThreads, 0, stream_of(ctx), nll_forward_kernel)
    (log_probs.as<const T>(), target.as<const int64_t>(), weight.as<const T>(), l.n, l.c, l.inner,
     ignore_index, bad_index_report(), loss.as<T>(), sample_weight.as<T>());
  });
  TANDEM_CUDA_CHECK(cudaGetLastError());
}

void nll_backward_cuda(const KernelContext& ctx, const ClassLayout& l, int64_t ignore_index,
                       const Buffer& grad, const Buffer& target, const Buffer& weight,
                       const Buffer& grad_in) {
  const int64_t samples = l.n * l.inner;
  if (samples == 0) return;
  dispatch_cuda_floating(grad.dtype, "nll_loss_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    TANDEM_LAUNCH(blocks_for(samples), kThreads, 0, stream_of(ctx), nll_backward_kernel)
    (grad.as<const T>(), target.as<const int64_t>(), weight.as<const T>(), l.n, l.c, l.inner,
     ignore_index, grad_in.as<T>());
  });
  TANDEM_CUDA_CHECK(cudaGetLastError());
}

}  // namespace

TANDEM_REGISTER_CUDA_KERNEL(softmax_forward, softmax_forward_cuda);
TANDEM_REGISTER_CUDA_KERNEL(softmax_backward, softmax_backward_cuda);
TANDEM_REGISTER_CUDA_KERNEL(max_along, max_along_cuda);
TANDEM_REGISTER_CUDA_KERNEL(nll_forward, nll_forward_cuda);
TANDEM_REGISTER_CUDA_KERNEL(nll_backward, nll_backward_cuda);

}  // namespace tandem::kernels::cuda
