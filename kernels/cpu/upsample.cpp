// CPU upsampling kernels over planes; the index rules (nearest, bilinear taps) are
// kernels/common/upsample_functors.h, shared with the CUDA kernels. Backward kernels scatter each
// output's gradient to its source pixels, accumulating into grad_in. Planes run in parallel
// (parallel_for.h); each writes only its own outputs and its own plane of grad_in.
#include "kernels/common/upsample_functors.h"
#include "kernels/cpu/float_staging.h"
#include "kernels/cpu/parallel_for.h"
#include "kernels/cpu/register.h"

namespace tandem::kernels::cpu {
namespace {
// The elements one plane's work touches, for parallel_for's grain.
int64_t plane_work(const UpsampleGeometry& g) { return g.in_h * g.in_w + g.out_h * g.out_w; }
}  // namespace

template <typename T>
void upsample_nearest2d(const T* in, const UpsampleGeometry& g, T* out) {
  parallel_for_each(g.planes, plane_work(g), [&](int64_t p) {
    const T* src = in + p * g.in_h * g.in_w;
    for (int64_t oh = 0; oh < g.out_h; ++oh)
      for (int64_t ow = 0; ow < g.out_w; ++ow)
        out[(p * g.out_h + oh) * g.out_w + ow] = upsample_nearest_at(src, g, oh, ow);
  });
}

template <typename T>
void upsample_nearest2d_backward(const T* grad_out, const UpsampleGeometry& g, T* grad_in) {
  parallel_for_each(g.planes, plane_work(g), [&](int64_t p) {
    for (int64_t oh = 0; oh < g.out_h; ++oh) {
      const int64_t ih = nearest_source(oh, g.in_h, g.scale_h);
      for (int64_t ow = 0; ow < g.out_w; ++ow)
        grad_in[(p * g.in_h + ih) * g.in_w + nearest_source(ow, g.in_w, g.scale_w)] +=
            grad_out[(p * g.out_h + oh) * g.out_w + ow];
    }
  });
}

template <typename T>
void upsample_bilinear2d(const T* in, const UpsampleGeometry& g, T* out) {
  parallel_for_each(g.planes, plane_work(g), [&](int64_t p) {
    const T* src = in + p * g.in_h * g.in_w;
    for (int64_t oh = 0; oh < g.out_h; ++oh)
      for (int64_t ow = 0; ow < g.out_w; ++ow)
        out[(p * g.out_h + oh) * g.out_w + ow] = upsample_bilinear_at(src, g, oh, ow);
  });
}

template <typename T>
void upsample_bilinear2d_backward(const T* grad_out, const UpsampleGeometry& g, T* grad_in) {
  parallel_for_each(g.planes, plane_work(g), [&](int64_t p) {
    T* dst = grad_in + p * g.in_h * g.in_w;
    for (int64_t oh = 0; oh < g.out_h; ++oh) {
      const LinearTaps h = linear_taps(oh, g.in_h, g.scale_h, g.align_corners);
      for (int64_t ow = 0; ow < g.out_w; ++ow) {
        const LinearTaps w = linear_taps(ow, g.in_w, g.scale_w, g.align_corners);
        const double go = double(grad_out[(p * g.out_h + oh) * g.out_w + ow]);
        dst[h.i0 * g.in_w + w.i0] += T(h.l0 * w.l0 * go);
        dst[h.i0 * g.in_w + w.i1] += T(h.l0 * w.l1 * go);
        dst[h.i1 * g.in_w + w.i0] += T(h.l1 * w.l0 * go);
        dst[h.i1 * g.in_w + w.i1] += T(h.l1 * w.l1 * go);
      }
    }
  });
}

namespace {
int64_t in_numel(const UpsampleGeometry& g) { return g.planes * g.in_h * g.in_w; }
int64_t out_numel(const UpsampleGeometry& g) { return g.planes * g.out_h * g.out_w; }
}  // namespace

// float16/bfloat16 operands run the float kernels through FloatStaging, rounded once.

void upsample_nearest2d_forward_cpu(const KernelContext& ctx, const UpsampleGeometry& g,
                                    const Buffer& in, const Buffer& out) {
  if (is_half(in.dtype)) {
    FloatStaging f;
    upsample_nearest2d_forward_cpu(ctx, g, f.input(in, in_numel(g)), f.output(out, out_numel(g)));
    return f.finish();
  }
  dispatch_floating(in.dtype, "upsample_nearest2d", [&](auto tag) {
    using T = typename decltype(tag)::type;
    upsample_nearest2d<T>(in.as<const T>(), g, out.as<T>());
  });
}

void upsample_nearest2d_backward_cpu(const KernelContext& ctx, const UpsampleGeometry& g,
                                     const Buffer& grad_out, const Buffer& grad_in) {
  if (is_half(grad_out.dtype)) {
    FloatStaging f;
    upsample_nearest2d_backward_cpu(ctx, g, f.input(grad_out, out_numel(g)),
                                    f.output(grad_in, in_numel(g), /*accumulates=*/true));
    return f.finish();
  }
  dispatch_floating(grad_out.dtype, "upsample_nearest2d_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    upsample_nearest2d_backward<T>(grad_out.as<const T>(), g, grad_in.as<T>());
  });
}

void upsample_bilinear2d_forward_cpu(const KernelContext& ctx, const UpsampleGeometry& g,
                                     const Buffer& in, const Buffer& out) {
  if (is_half(in.dtype)) {
    FloatStaging f;
    upsample_bilinear2d_forward_cpu(ctx, g, f.input(in, in_numel(g)), f.output(out, out_numel(g)));
    return f.finish();
  }
  dispatch_floating(in.dtype, "upsample_bilinear2d", [&](auto tag) {
    using T = typename decltype(tag)::type;
    upsample_bilinear2d<T>(in.as<const T>(), g, out.as<T>());
  });
}

void upsample_bilinear2d_backward_cpu(const KernelContext& ctx, const UpsampleGeometry& g,
                                      const Buffer& grad_out, const Buffer& grad_in) {
  if (is_half(grad_out.dtype)) {
    FloatStaging f;
    upsample_bilinear2d_backward_cpu(ctx, g, f.input(grad_out, out_numel(g)),
                                     f.output(grad_in, in_numel(g), /*accumulates=*/true));
    return f.finish();
  }
  dispatch_floating(grad_out.dtype, "upsample_bilinear2d_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    upsample_bilinear2d_backward<T>(grad_out.as<const T>(), g, grad_in.as<T>());
  });
}

TANDEM_REGISTER_CPU_KERNEL(upsample_nearest2d_forward, upsample_nearest2d_forward_cpu);
TANDEM_REGISTER_CPU_KERNEL(upsample_nearest2d_backward, upsample_nearest2d_backward_cpu);
TANDEM_REGISTER_CPU_KERNEL(upsample_bilinear2d_forward, upsample_bilinear2d_forward_cpu);
TANDEM_REGISTER_CPU_KERNEL(upsample_bilinear2d_backward, upsample_bilinear2d_backward_cpu);

}  // namespace tandem::kernels::cpu
