// CUDA optimizer updates over one contiguous parameter, a thread per element, applying the
// per-element updates the CPU kernels apply (kernels/common/optim_functors.h), and the loss
// scaler's unscale (kernels/common/amp_functors.h).
#include <cuda_runtime.h>

#include "kernels/common/amp_functors.h"
#include "kernels/common/optim_functors.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/launch.cuh"
#include "kernels/kernel_table.h"

namespace tandem::kernels::cuda {
namespace {

template <typename T>
__global__ void sgd_kernel(T* p, const T* g, T* buf, int64_t n, SgdParams s) {
  const int64_t i = thread_index();
  if (i >= n) return;
  sgd_update<T>(p[i], g[i], buf ? buf + i : nullptr, s);
}

template <typename T>
__global__ void adam_kernel(T* p, const T* g, T* m, T* v, T* vmax, int64_t n, AdamParams a) {
  const int64_t i = thread_index();
  if (i >= n) return;
  adam_update<T>(p[i], g[i], m[i], v[i], vmax ? vmax + i : nullptr, a);
}

template <typename T>
__global__ void unscale_kernel(T* g, int64_t n, float inv_scale, float* found_inf) {
  const int64_t i = thread_index();
  if (i >= n) return;
  // Every thread that sees inf/NaN writes the same 1: a benign race, as PyTorch's kernel.
  if (unscale_element<T>(g[i], inv_scale)) *found_inf = 1.0f;
}

void sgd_step_cuda(const KernelContext& ctx, const SgdParams& s, int64_t n, const Buffer& param,
                   const Buffer& grad, const Buffer& momentum_buf) {
  if (n == 0) return;
  dispatch_cuda_floating(param.dtype, "SGD", [&](auto tag) {
    using T = typename decltype(tag)::type;
    sgd_kernel<<<blocks_for(n), kThreads, 0, stream_of(ctx)>>>(param.as<T>(), grad.as<const T>(),
                                                               momentum_buf.as<T>(), n, s);
  });
  TANDEM_CUDA_CHECK(cudaGetLastError());
}

void adam_step_cuda(const KernelContext& ctx, const AdamParams& a, int64_t n, const Buffer& param,
                    const Buffer& grad, const Buffer& exp_avg, const Buffer& exp_avg_sq,
                    const Buffer& max_exp_avg_sq) {
  if (n == 0) return;
  dispatch_cuda_floating(param.dtype, "Adam", [&](auto tag) {
    using T = typename decltype(tag)::type;
    adam_kernel<<<blocks_for(n), kThreads, 0, stream_of(ctx)>>>(param.as<T>(), grad.as<const T>(),
                                                                exp_avg.as<T>(), exp_avg_sq.as<T>(),
                                                                max_exp_avg_sq.as<T>(), n, a);
  });
  TANDEM_CUDA_CHECK(cudaGetLastError());
}

void unscale_and_check_cuda(const KernelContext& ctx, int64_t n, float inv_scale,
                            const Buffer& grad, const Buffer& found_inf) {
  if (n == 0) return;
  dispatch_cuda_floating(grad.dtype, "unscale", [&](auto tag) {
    using T = typename decltype(tag)::type;
    unscale_kernel<<<blocks_for(n), kThreads, 0, stream_of(ctx)>>>(grad.as<T>(), n, inv_scale,
                                                                   found_inf.as<float>());
  });
  TANDEM_CUDA_CHECK(cudaGetLastError());
}

}  // namespace

TANDEM_REGISTER_CUDA_KERNEL(sgd_step, sgd_step_cuda);
TANDEM_REGISTER_CUDA_KERNEL(unscale_and_check, unscale_and_check_cuda);
TANDEM_REGISTER_CUDA_KERNEL(adam_step, adam_step_cuda);

}  // namespace tandem::kernels::cuda
