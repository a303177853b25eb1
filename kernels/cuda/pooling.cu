// CUDA pooling kernels with the CPU kernels' semantics, from the same per-window functions
// (kernels/common/pool_functors.h): forward, one thread per output element; backward, one thread
// per input element gathering the gradients of the outputs whose windows hold it, in output
// order, and adding the sum to grad_in (which the caller zeroed). No floating-point atomics: every
// run gives the same bits, equal to the CPU's scatter order. Max unpooling scatters by its
// indices, settling equal indices with an integer atomic max (pool_functors.h), and its backward
// gathers.
#include <cuda_runtime.h>

#include "kernels/common/dtype.h"
#include "kernels/common/pool_functors.h"
#include "kernels/cuda/bad_index_report.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/float_staging.h"
#include "kernels/cuda/launch.cuh"
#include "kernels/device/caching_allocator.h"
#include "kernels/kernel_table.h"

namespace tandem::kernels::cuda {
namespace {

// Output element i of (planes, out_h, out_w) as (plane, oh, ow).
struct At {
  int64_t plane, h, w;
};
__device__ inline At split(int64_t i, int64_t h, int64_t w) {
  return {i / (h * w), (i / w) % h, i % w};
}

template <typename T>
__global__ void max_pool_kernel(const T* in, T* out, int64_t* indices, PoolGeometry g, int64_t n) {
  const int64_t i = thread_index();
  if (i >= n) return;
  const At o = split(i, g.out_h, g.out_w);
  max_pool_window(in + o.plane * g.in_h * g.in_w, g, o.h, o.w, out[i], indices[i]);
}

template <typename T>
__global__ void max_pool_backward_kernel(const T* grad_out, const int64_t* indices, T* grad_in,
                                         PoolGeometry g, int64_t n) {
  const int64_t i = thread_index();
  if (i >= n) return;
  const At a = split(i, g.in_h, g.in_w);
  const int64_t plane = a.plane * g.out_h * g.out_w;
  grad_in[i] += max_pool_grad_at(grad_out + plane, indices + plane, g, a.h, a.w);
}

template <typename T>
__global__ void avg_pool_kernel(const T* in, T* out, PoolGeometry g, bool count_include_pad,
                                int64_t divisor_override, int64_t n) {
  const int64_t i = thread_index();
  if (i >= n) return;
  const At o = split(i, g.out_h, g.out_w);
  out[i] = avg_pool_window(in + o.plane * g.in_h * g.in_w, g, o.h, o.w, count_include_pad,
                           divisor_override);
}

template <typename T>
__global__ void avg_pool_backward_kernel(const T* grad_out, T* grad_in, PoolGeometry g,
                                         bool count_include_pad, int64_t divisor_override,
                                         int64_t n) {
  const int64_t i = thread_index();
  if (i >= n) return;
  const At a = split(i, g.in_h, g.in_w);
  grad_in[i] += avg_pool_grad_at(grad_out + a.plane * g.out_h * g.out_w, g, count_include_pad, a.h,
                                 a.w, divisor_override);
}

template <typename T>
__global__ void adaptive_avg_pool_kernel(const T* in, T* out, PoolGeometry g, int64_t n) {
  const int64_t i = thread_index();
  if (i >= n) return;
  const At o = split(i, g.out_h, g.out_w);
  out[i] = adaptive_avg_window(in + o.plane * g.in_h * g.in_w, g, o.h, o.w);
}

template <typename T>
__global__ void adaptive_avg_pool_backward_kernel(const T* grad_out, T* grad_in, PoolGeometry g,
                                                  int64_t n) {
  const int64_t i = thread_index();
  if (i >= n) return;
  const At a = split(i, g.in_h, g.in_w);
  grad_in[i] += adaptive_avg_grad_at(grad_out + a.plane * g.out_h * g.out_w, g, a.h, a.w);
}

template <typename T>
__global__ void adaptive_max_pool_kernel(const T* in, T* out, int64_t* indices, PoolGeometry g,
                                         int64_t n) {
  const int64_t i = thread_index();
  if (i >= n) return;
  const At o = split(i, g.out_h, g.out_w);
  adaptive_max_window(in + o.plane * g.in_h * g.in_w, g, o.h, o.w, out[i], indices[i]);
}

template <typename T>
__global__ void adaptive_max_pool_backward_kernel(const T* grad_out, const int64_t* indices,
                                                  T* grad_in, PoolGeometry g, int64_t n) {
  const int64_t i = thread_index();
  if (i >= n) return;
  const At a = split(i, g.in_h, g.in_w);
  const int64_t plane = a.plane * g.out_h * g.out_w;
  grad_in[i] += adaptive_max_grad_at(grad_out + plane, indices + plane, g, a.h, a.w);
}

__global__ void zero_claims_kernel(unsigned long long* claims, int64_t n) {
  const int64_t i = thread_index();
  if (i < n) claims[i] = 0;
}

// Max unpooling, one thread per input element (n of them, planes of out_h x out_w): the claims,
// then the winners' writes (pool_functors.h). A bad index is reported and skipped.
__global__ void max_unpool_claim_kernel(const int64_t* indices, unsigned long long* claims,
                                        PoolGeometry g, BadIndexReport* report, int64_t n) {
  const int64_t i = thread_index();
  if (i >= n) return;
  const int64_t plane_in = g.out_h * g.out_w, plane_out = g.in_h * g.in_w;
  const int64_t k = indices[i];
  if (!index_in_range(k, plane_out)) {
    report_bad_index(report, BadIndexKind::MaxUnpool, k, unpool_plane(g.in_h, g.in_w));
    return;
  }
  max_unpool_claim(claims + (i / plane_in) * plane_out + k, i % plane_in);
}

template <typename T>
__global__ void max_unpool_write_kernel(const T* in, const int64_t* indices,
                                        const unsigned long long* claims, T* out, PoolGeometry g,
                                        int64_t n) {
  const int64_t i = thread_index();
  if (i >= n) return;
  const int64_t plane_in = g.out_h * g.out_w, plane_out = g.in_h * g.in_w;
  const int64_t k = indices[i];
  if (!index_in_range(k, plane_out)) return;
  const int64_t o = (i / plane_in) * plane_out + k;
  if (claims[o] == static_cast<unsigned long long>(i % plane_in + 1)) out[o] = in[i];
}

template <typename T>
__global__ void max_unpool_backward_kernel(const T* grad_out, const int64_t* indices, T* grad_in,
                                           PoolGeometry g, int64_t n) {
  const int64_t i = thread_index();
  if (i >= n) return;
  const int64_t plane_in = g.out_h * g.out_w, plane_out = g.in_h * g.in_w;
  grad_in[i] = max_unpool_grad_at(grad_out + (i / plane_in) * plane_out, indices[i], plane_out);
}

int64_t outputs(const PoolGeometry& g) { return g.planes * g.out_h * g.out_w; }
int64_t inputs(const PoolGeometry& g) { return g.planes * g.in_h * g.in_w; }

void max_pool2d_forward_cuda(const KernelContext& ctx, const PoolGeometry& g, const Buffer& in,
                             const Buffer& out, const Buffer& indices) {
  if (is_half(in.dtype)) {  // float32 kernels: staged (float_staging.h)
    FloatStaging f(ctx);
    max_pool2d_forward_cuda(ctx, g, f.input(in, inputs(g)), f.output(out, outputs(g)), indices);
    return f.finish();
  }
  const int64_t n = outputs(g);
  if (n == 0) return;
  dispatch_cuda_floating(in.dtype, "max_pool2d", [&](auto tag) {
    using T = typename decltype(tag)::type;
    TANDEM_LAUNCH(blocks_for(n), kThreads, 0, stream_of(ctx), max_pool_kernel)
    (in.as<const T>(), out.as<T>(), indices.as<int64_t>(), g, n);
  });
  TANDEM_CUDA_CHECK(cudaGetLastError());
}

void max_pool2d_backward_cuda(const KernelContext& ctx, const PoolGeometry& g,
                              const Buffer& grad_out, const Buffer& indices,
                              const Buffer& grad_in) {
  if (is_half(grad_out.dtype)) {  // float32 kernels: staged (float_staging.h)
    FloatStaging f(ctx);
    max_pool2d_backward_cuda(ctx, g, f.input(grad_out, outputs(g)), indices,
                             f.output(grad_in, inputs(g), true));
    return f.finish();
  }
  const int64_t n = inputs(g);
  if (n == 0 || outputs(g) == 0) return;
  dispatch_cuda_floating(grad_out.dtype, "max_pool2d_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    TANDEM_LAUNCH(blocks_for(n), kThreads, 0, stream_of(ctx), max_pool_backward_kernel)
    (grad_out.as<const T>(), indices.as<const int64_t>(), grad_in.as<T>(), g, n);
  });
  TANDEM_CUDA_CHECK(cudaGetLastError());
}

void avg_pool2d_forward_cuda(const KernelContext& ctx, const PoolGeometry& g,
                             bool count_include_pad, int64_t divisor_override, const Buffer& in,
                             const Buffer& out) {
  if (is_half(in.dtype)) {  // float32 kernels: staged (float_staging.h)
    FloatStaging f(ctx);
    avg_pool2d_forward_cuda(ctx, g, count_include_pad, divisor_override, f.input(in, inputs(g)),
                            f.output(out, outputs(g)));
    return f.finish();
  }
  const int64_t n = outputs(g);
  if (n == 0) return;
  dispatch_cuda_floating(in.dtype, "avg_pool2d", [&](auto tag) {
    using T = typename decltype(tag)::type;
    TANDEM_LAUNCH(blocks_for(n), kThreads, 0, stream_of(ctx), avg_pool_kernel)
    (in.as<const T>(), out.as<T>(), g, count_include_pad, divisor_override, n);
  });
  TANDEM_CUDA_CHECK(cudaGetLastError());
}

void avg_pool2d_backward_cuda(const KernelContext& ctx, const PoolGeometry& g,
                              bool count_include_pad, int64_t divisor_override,
                              const Buffer& grad_out, const Buffer& grad_in) {
  if (is_half(grad_out.dtype)) {  // float32 kernels: staged (float_staging.h)
    FloatStaging f(ctx);
    avg_pool2d_backward_cuda(ctx, g, count_include_pad, divisor_override,
                             f.input(grad_out, outputs(g)), f.output(grad_in, inputs(g), true));
    return f.finish();
  }
  const int64_t n = inputs(g);
  if (n == 0 || outputs(g) == 0) return;
  dispatch_cuda_floating(grad_out.dtype, "avg_pool2d_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    TANDEM_LAUNCH(blocks_for(n), kThreads, 0, stream_of(ctx), avg_pool_backward_kernel)
    (grad_out.as<const T>(), grad_in.as<T>(), g, count_include_pad, divisor_override, n);
  });
  TANDEM_CUDA_CHECK(cudaGetLastError());
}

void adaptive_avg_pool2d_forward_cuda(const KernelContext& ctx, const PoolGeometry& g,
                                      const Buffer& in, const Buffer& out) {
  if (is_half(in.dtype)) {  // float32 kernels: staged (float_staging.h)
    FloatStaging f(ctx);
    adaptive_avg_pool2d_forward_cuda(ctx, g, f.input(in, inputs(g)), f.output(out, outputs(g)));
    return f.finish();
  }
  const int64_t n = outputs(g);
  if (n == 0) return;
  dispatch_cuda_floating(in.dtype, "adaptive_avg_pool2d", [&](auto tag) {
    using T = typename decltype(tag)::type;
    TANDEM_LAUNCH(blocks_for(n), kThreads, 0, stream_of(ctx), adaptive_avg_pool_kernel)
    (in.as<const T>(), out.as<T>(), g, n);
  });
  TANDEM_CUDA_CHECK(cudaGetLastError());
}

void adaptive_avg_pool2d_backward_cuda(const KernelContext& ctx, const PoolGeometry& g,
                                       const Buffer& grad_out, const Buffer& grad_in) {
  if (is_half(grad_out.dtype)) {  // float32 kernels: staged (float_staging.h)
    FloatStaging f(ctx);
    adaptive_avg_pool2d_backward_cuda(ctx, g, f.input(grad_out, outputs(g)),
                                      f.output(grad_in, inputs(g), true));
    return f.finish();
  }
  const int64_t n = inputs(g);
  if (n == 0 || outputs(g) == 0) return;
  dispatch_cuda_floating(grad_out.dtype, "adaptive_avg_pool2d_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    TANDEM_LAUNCH(blocks_for(n), kThreads, 0, stream_of(ctx), adaptive_avg_pool_backward_kernel)
    (grad_out.as<const T>(), grad_in.as<T>(), g, n);
  });
  TANDEM_CUDA_CHECK(cudaGetLastError());
}

void adaptive_max_pool2d_forward_cuda(const KernelContext& ctx, const PoolGeometry& g,
                                      const Buffer& in, const Buffer& out, const Buffer& indices) {
  if (is_half(in.dtype)) {  // float32 kernels: staged (float_staging.h)
    FloatStaging f(ctx);
    adaptive_max_pool2d_forward_cuda(ctx, g, f.input(in, inputs(g)), f.output(out, outputs(g)),
                                     indices);
    return f.finish();
  }
  const int64_t n = outputs(g);
  if (n == 0) return;
  dispatch_cuda_floating(in.dtype, "adaptive_max_pool2d", [&](auto tag) {
    using T = typename decltype(tag)::type;
    TANDEM_LAUNCH(blocks_for(n), kThreads, 0, stream_of(ctx), adaptive_max_pool_kernel)
    (in.as<const T>(), out.as<T>(), indices.as<int64_t>(), g, n);
  });
  TANDEM_CUDA_CHECK(cudaGetLastError());
}

void adaptive_max_pool2d_backward_cuda(const KernelContext& ctx, const PoolGeometry& g,
                                       const Buffer& grad_out, const Buffer& indices,
                                       const Buffer& grad_in) {
  if (is_half(grad_out.dtype)) {  // float32 kernels: staged (float_staging.h)
    FloatStaging f(ctx);
    adaptive_max_pool2d_backward_cuda(ctx, g, f.input(grad_out, outputs(g)), indices,
                                      f.output(grad_in, inputs(g), true));
    return f.finish();
  }
  const int64_t n = inputs(g);
  if (n == 0 || outputs(g) == 0) return;
  dispatch_cuda_floating(grad_out.dtype, "adaptive_max_pool2d_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    TANDEM_LAUNCH(blocks_for(n), kThreads, 0, stream_of(ctx), adaptive_max_pool_backward_kernel)
    (grad_out.as<const T>(), indices.as<const int64_t>(), grad_in.as<T>(), g, n);
  });
  TANDEM_CUDA_CHECK(cudaGetLastError());
}

// The claims are scratch from the caching allocator on the call's stream (as reduce.cu's
// partials), zeroed by a kernel on that stream.
void max_unpool2d_forward_cuda(const KernelContext& ctx, const PoolGeometry& g, const Buffer& in,
                               const Buffer& indices, const Buffer& out) {
  if (is_half(in.dtype)) {  // float32 kernels: staged (float_staging.h)
    FloatStaging f(ctx);
    max_unpool2d_forward_cuda(ctx, g, f.input(in, outputs(g)), indices,
                              f.output(out, inputs(g), true));
    return f.finish();
  }
  const int64_t n = outputs(g);
  if (n == 0 || inputs(g) == 0) return;
  auto& allocator = device::device_allocator();
  const int64_t m = inputs(g);
  auto* claims = static_cast<unsigned long long*>(
      allocator.allocate(size_t(m) * sizeof(unsigned long long), ctx.device.index, ctx.stream));
  try {
    TANDEM_LAUNCH(blocks_for(m), kThreads, 0, stream_of(ctx), zero_claims_kernel)(claims, m);
    TANDEM_CUDA_CHECK(cudaGetLastError());
    TANDEM_LAUNCH(blocks_for(n), kThreads, 0, stream_of(ctx), max_unpool_claim_kernel)
    (indices.as<const int64_t>(), claims, g, bad_index_report(), n);
    TANDEM_CUDA_CHECK(cudaGetLastError());
    dispatch_cuda_floating(in.dtype, "max_unpool2d", [&](auto tag) {
      using T = typename decltype(tag)::type;
      TANDEM_LAUNCH(blocks_for(n), kThreads, 0, stream_of(ctx), max_unpool_write_kernel)
      (in.as<const T>(), indices.as<const int64_t>(), claims, out.as<T>(), g, n);
    });
    TANDEM_CUDA_CHECK(cudaGetLastError());
  } catch (...) {
    allocator.free(claims);
    throw;
  }
  allocator.free(claims);
}

void max_unpool2d_backward_cuda(const KernelContext& ctx, const PoolGeometry& g,
                                const Buffer& grad_out, const Buffer& indices,
                                const Buffer& grad_in) {
  if (is_half(grad_out.dtype)) {  // float32 kernels: staged (float_staging.h)
    FloatStaging f(ctx);
    max_unpool2d_backward_cuda(ctx, g, f.input(grad_out, inputs(g)), indices,
                               f.output(grad_in, outputs(g)));
    return f.finish();
  }
  const int64_t n = outputs(g);
  if (n == 0) return;
  dispatch_cuda_floating(grad_out.dtype, "max_unpool2d_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    TANDEM_LAUNCH(blocks_for(n), kThreads, 0, stream_of(ctx), max_unpool_backward_kernel)
    (grad_out.as<const T>(), indices.as<const int64_t>(), grad_in.as<T>(), g, n);
  });
  TANDEM_CUDA_CHECK(cudaGetLastError());
}

}  // namespace

TANDEM_REGISTER_CUDA_KERNEL(max_pool2d_forward, max_pool2d_forward_cuda);
TANDEM_REGISTER_CUDA_KERNEL(max_pool2d_backward, max_pool2d_backward_cuda);
TANDEM_REGISTER_CUDA_KERNEL(avg_pool2d_forward, avg_pool2d_forward_cuda);
TANDEM_REGISTER_CUDA_KERNEL(avg_pool2d_backward, avg_pool2d_backward_cuda);
TANDEM_REGISTER_CUDA_KERNEL(adaptive_avg_pool2d_forward, adaptive_avg_pool2d_forward_cuda);
TANDEM_REGISTER_CUDA_KERNEL(adaptive_avg_pool2d_backward, adaptive_avg_pool2d_backward_cuda);
TANDEM_REGISTER_CUDA_KERNEL(adaptive_max_pool2d_forward, adaptive_max_pool2d_forward_cuda);
TANDEM_REGISTER_CUDA_KERNEL(adaptive_max_pool2d_backward, adaptive_max_pool2d_backward_cuda);
TANDEM_REGISTER_CUDA_KERNEL(max_unpool2d_forward, max_unpool2d_forward_cuda);
TANDEM_REGISTER_CUDA_KERNEL(max_unpool2d_backward, max_unpool2d_backward_cuda);

}  // namespace tandem::kernels::cuda
