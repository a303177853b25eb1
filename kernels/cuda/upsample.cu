// CUDA upsampling kernels (nearest, nearest-exact, bilinear, bicubic) with the CPU kernels' index
// rules, from the same functions (kernels/common/upsample_functors.h): forward, one thread per
// output element; backward, one thread per input pixel gathering the contributions of the outputs
// that read it, in the CPU's order, and adding the sum to grad_in (which the caller zeroed). The
// backward kernels are all gathers, so neither needs atomics and every run gives the same bits,
// whatever math_options().deterministic says.
#include <cuda_runtime.h>

#include "kernels/common/dtype.h"
#include "kernels/common/upsample_functors.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/float_staging.h"
#include "kernels/cuda/launch.cuh"
#include "kernels/kernel_table.h"

namespace tandem::kernels::cuda {
namespace {

using Mode = UpsampleMode;

template <typename T, Mode M>
__global__ void upsample_kernel(const T* in, T* out, UpsampleGeometry g, int64_t n) {
  const int64_t i = thread_index();
  if (i >= n) return;
  const int64_t plane = i / (g.out_h * g.out_w), oh = (i / g.out_w) % g.out_h, ow = i % g.out_w;
  out[i] = upsample_at<M>(in + plane * g.in_h * g.in_w, g, oh, ow);
}

template <typename T, Mode M>
__global__ void upsample_backward_kernel(const T* grad_out, T* grad_in, UpsampleGeometry g,
                                         int64_t n) {
  const int64_t i = thread_index();
  if (i >= n) return;
  const int64_t plane = i / (g.in_h * g.in_w), ih = (i / g.in_w) % g.in_h, iw = i % g.in_w;
  grad_in[i] += upsample_grad_at<M>(grad_out + plane * g.out_h * g.out_w, g, ih, iw);
}

template <Mode M>
void forward(const KernelContext& ctx, const char* op, const UpsampleGeometry& g, const Buffer& in,
             const Buffer& out) {
  const int64_t n = g.planes * g.out_h * g.out_w;
  if (is_half(in.dtype)) {  // float32 kernels: staged (float_staging.h)
    FloatStaging f(ctx);
    forward<M>(ctx, op, g, f.input(in, g.planes * g.in_h * g.in_w), f.output(out, n));
    return f.finish();
  }
  if (n == 0) return;
  dispatch_cuda_floating(in.dtype, op, [&](auto tag) {
    using T = typename decltype(tag)::type;
    TANDEM_LAUNCH(blocks_for(n), kThreads, 0, stream_of(ctx), upsample_kernel<T, M>)
    (in.as<const T>(), out.as<T>(), g, n);
  });
  TANDEM_CUDA_CHECK(cudaGetLastError());
}

template <Mode M>
void backward(const KernelContext& ctx, const char* op, const UpsampleGeometry& g,
              const Buffer& grad_out, const Buffer& grad_in) {
  const int64_t n = g.planes * g.in_h * g.in_w;
  if (is_half(grad_out.dtype)) {
    FloatStaging f(ctx);
    backward<M>(ctx, op, g, f.input(grad_out, g.planes * g.out_h * g.out_w),
                f.output(grad_in, n, /*accumulates=*/true));
    return f.finish();
  }
  if (n == 0 || g.out_h * g.out_w == 0) return;
  dispatch_cuda_floating(grad_out.dtype, op, [&](auto tag) {
    using T = typename decltype(tag)::type;
    TANDEM_LAUNCH(blocks_for(n), kThreads, 0, stream_of(ctx), upsample_backward_kernel<T, M>)
    (grad_out.as<const T>(), grad_in.as<T>(), g, n);
  });
  TANDEM_CUDA_CHECK(cudaGetLastError());
}

void upsample_nearest2d_forward_cuda(const KernelContext& ctx, const UpsampleGeometry& g,
                                     const Buffer& in, const Buffer& out) {
  forward<Mode::Nearest>(ctx, "upsample_nearest2d", g, in, out);
}
void upsample_nearest2d_backward_cuda(const KernelContext& ctx, const UpsampleGeometry& g,
                                      const Buffer& grad_out, const Buffer& grad_in) {
  backward<Mode::Nearest>(ctx, "upsample_nearest2d_backward", g, grad_out, grad_in);
}
void upsample_bilinear2d_forward_cuda(const KernelContext& ctx, const UpsampleGeometry& g,
                                      const Buffer& in, const Buffer& out) {
  forward<Mode::Bilinear>(ctx, "upsample_bilinear2d", g, in, out);
}
void upsample_bilinear2d_backward_cuda(const KernelContext& ctx, const UpsampleGeometry& g,
                                       const Buffer& grad_out, const Buffer& grad_in) {
  backward<Mode::Bilinear>(ctx, "upsample_bilinear2d_backward", g, grad_out, grad_in);
}

void upsample_nearest_exact2d_forward_cuda(const KernelContext& ctx, const UpsampleGeometry& g,
                                           const Buffer& in, const Buffer& out) {
  forward<Mode::NearestExact>(ctx, "upsample_nearest_exact2d", g, in, out);
}
void upsample_nearest_exact2d_backward_cuda(const KernelContext& ctx, const UpsampleGeometry& g,
                                            const Buffer& grad_out, const Buffer& grad_in) {
  backward<Mode::NearestExact>(ctx, "upsample_nearest_exact2d_backward", g, grad_out, grad_in);
}
void upsample_bicubic2d_forward_cuda(const KernelContext& ctx, const UpsampleGeometry& g,
                                     const Buffer& in, const Buffer& out) {
  forward<Mode::Bicubic>(ctx, "upsample_bicubic2d", g, in, out);
}
void upsample_bicubic2d_backward_cuda(const KernelContext& ctx, const UpsampleGeometry& g,
                                      const Buffer& grad_out, const Buffer& grad_in) {
  backward<Mode::Bicubic>(ctx, "upsample_bicubic2d_backward", g, grad_out, grad_in);
}

}  // namespace

TANDEM_REGISTER_CUDA_KERNEL(upsample_nearest2d_forward, upsample_nearest2d_forward_cuda);
TANDEM_REGISTER_CUDA_KERNEL(upsample_nearest2d_backward, upsample_nearest2d_backward_cuda);
TANDEM_REGISTER_CUDA_KERNEL(upsample_bilinear2d_forward, upsample_bilinear2d_forward_cuda);
TANDEM_REGISTER_CUDA_KERNEL(upsample_bilinear2d_backward, upsample_bilinear2d_backward_cuda);
TANDEM_REGISTER_CUDA_KERNEL(upsample_nearest_exact2d_forward,
                            upsample_nearest_exact2d_forward_cuda);
TANDEM_REGISTER_CUDA_KERNEL(upsample_nearest_exact2d_backward,
                            upsample_nearest_exact2d_backward_cuda);
TANDEM_REGISTER_CUDA_KERNEL(upsample_bicubic2d_forward, upsample_bicubic2d_forward_cuda);
TANDEM_REGISTER_CUDA_KERNEL(upsample_bicubic2d_backward, upsample_bicubic2d_backward_cuda);

}  // namespace tandem::kernels::cuda
