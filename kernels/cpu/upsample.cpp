// CPU upsampling kernels over planes; the index rules (nearest, nearest-exact, bilinear and
// bicubic taps) are kernels/common/upsample_functors.h, shared with the CUDA kernels. Backward
// kernels scatter each output's gradient to its source pixels, accumulating into grad_in. Planes
// run in parallel (parallel_for.h); each writes only its own outputs and its own plane of grad_in.
#include "kernels/common/upsample_functors.h"
#include "kernels/cpu/float_staging.h"
#include "kernels/cpu/parallel_for.h"
#include "kernels/cpu/register.h"

namespace tandem::kernels::cpu {
namespace {
// The elements one plane's work touches, for parallel_for's grain.
int64_t plane_work(const UpsampleGeometry& g) { return g.in_h * g.in_w + g.out_h * g.out_w; }
}  // namespace

using Mode = UpsampleMode;

// Every mode's forward: output pixel (oh, ow) of plane p is upsample_at<M>, the rule the CUDA
// kernel uses too.
template <Mode M, typename T>
void upsample2d(const T* in, const UpsampleGeometry& g, T* out) {
  parallel_for_each(g.planes, plane_work(g), [&](int64_t p) {
    const T* src = in + p * g.in_h * g.in_w;
    for (int64_t oh = 0; oh < g.out_h; ++oh)
      for (int64_t ow = 0; ow < g.out_w; ++ow)
        out[(p * g.out_h + oh) * g.out_w + ow] = upsample_at<M>(src, g, oh, ow);
  });
}

// Nearest and nearest-exact: each output's gradient goes to its one source pixel.
template <Mode M, typename T>
void upsample_nearest2d_backward(const T* grad_out, const UpsampleGeometry& g, T* grad_in) {
  static_assert(M == Mode::Nearest || M == Mode::NearestExact);
  const auto source = [](int64_t dst, int64_t in, double scale) {
    return M == Mode::Nearest ? nearest_source(dst, in, scale)
                              : nearest_exact_source(dst, in, scale);
  };
  parallel_for_each(g.planes, plane_work(g), [&](int64_t p) {
    for (int64_t oh = 0; oh < g.out_h; ++oh) {
      const int64_t ih = source(oh, g.in_h, g.scale_h);
      for (int64_t ow = 0; ow < g.out_w; ++ow)
        grad_in[(p * g.in_h + ih) * g.in_w + source(ow, g.in_w, g.scale_w)] +=
            grad_out[(p * g.out_h + oh) * g.out_w + ow];
    }
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

// Each output adds wh * ww * grad to each of its 16 taps (h tap outer), at the clamped indices:
// a border pixel read by several taps receives each one's share.
template <typename T>
void upsample_bicubic2d_backward(const T* grad_out, const UpsampleGeometry& g, T* grad_in) {
  parallel_for_each(g.planes, plane_work(g), [&](int64_t p) {
    T* dst = grad_in + p * g.in_h * g.in_w;
    for (int64_t oh = 0; oh < g.out_h; ++oh) {
      const CubicTaps h = cubic_taps(oh, g.in_h, g.scale_h, g.align_corners);
      for (int64_t ow = 0; ow < g.out_w; ++ow) {
        const CubicTaps w = cubic_taps(ow, g.in_w, g.scale_w, g.align_corners);
        const double go = double(grad_out[(p * g.out_h + oh) * g.out_w + ow]);
        for (int a = 0; a < 4; ++a)
          for (int b = 0; b < 4; ++b) dst[h.i[a] * g.in_w + w.i[b]] += T(h.w[a] * w.w[b] * go);
      }
    }
  });
}

template <Mode M, typename T>
void upsample2d_backward(const T* grad_out, const UpsampleGeometry& g, T* grad_in) {
  if constexpr (M == Mode::Bilinear)
    upsample_bilinear2d_backward(grad_out, g, grad_in);
  else if constexpr (M == Mode::Bicubic)
    upsample_bicubic2d_backward(grad_out, g, grad_in);
  else
    upsample_nearest2d_backward<M>(grad_out, g, grad_in);
}

namespace {
int64_t in_numel(const UpsampleGeometry& g) { return g.planes * g.in_h * g.in_w; }
int64_t out_numel(const UpsampleGeometry& g) { return g.planes * g.out_h * g.out_w; }

// A family's entry points on float32/float64; float16/bfloat16 operands run the float kernels
// through FloatStaging, rounded once. Backward kernels accumulate into grad_in.
template <Mode M>
void forward(const char* op, const UpsampleGeometry& g, const Buffer& in, const Buffer& out) {
  if (is_half(in.dtype)) {
    FloatStaging f;
    forward<M>(op, g, f.input(in, in_numel(g)), f.output(out, out_numel(g)));
    return f.finish();
  }
  dispatch_floating(in.dtype, op, [&](auto tag) {
    using T = typename decltype(tag)::type;
    upsample2d<M>(in.as<const T>(), g, out.as<T>());
  });
}

template <Mode M>
void backward(const char* op, const UpsampleGeometry& g, const Buffer& grad_out,
              const Buffer& grad_in) {
  if (is_half(grad_out.dtype)) {
    FloatStaging f;
    backward<M>(op, g, f.input(grad_out, out_numel(g)),
                f.output(grad_in, in_numel(g), /*accumulates=*/true));
    return f.finish();
  }
  dispatch_floating(grad_out.dtype, op, [&](auto tag) {
    using T = typename decltype(tag)::type;
    upsample2d_backward<M>(grad_out.as<const T>(), g, grad_in.as<T>());
  });
}
}  // namespace

void upsample_nearest2d_forward_cpu(const KernelContext&, const UpsampleGeometry& g,
                                    const Buffer& in, const Buffer& out) {
  forward<Mode::Nearest>("upsample_nearest2d", g, in, out);
}
void upsample_nearest2d_backward_cpu(const KernelContext&, const UpsampleGeometry& g,
                                     const Buffer& grad_out, const Buffer& grad_in) {
  backward<Mode::Nearest>("upsample_nearest2d_backward", g, grad_out, grad_in);
}
void upsample_nearest_exact2d_forward_cpu(const KernelContext&, const UpsampleGeometry& g,
                                          const Buffer& in, const Buffer& out) {
  forward<Mode::NearestExact>("upsample_nearest_exact2d", g, in, out);
}
void upsample_nearest_exact2d_backward_cpu(const KernelContext&, const UpsampleGeometry& g,
                                           const Buffer& grad_out, const Buffer& grad_in) {
  backward<Mode::NearestExact>("upsample_nearest_exact2d_backward", g, grad_out, grad_in);
}
void upsample_bilinear2d_forward_cpu(const KernelContext&, const UpsampleGeometry& g,
                                     const Buffer& in, const Buffer& out) {
  forward<Mode::Bilinear>("upsample_bilinear2d", g, in, out);
}
void upsample_bilinear2d_backward_cpu(const KernelContext&, const UpsampleGeometry& g,
                                      const Buffer& grad_out, const Buffer& grad_in) {
  backward<Mode::Bilinear>("upsample_bilinear2d_backward", g, grad_out, grad_in);
}
void upsample_bicubic2d_forward_cpu(const KernelContext&, const UpsampleGeometry& g,
                                    const Buffer& in, const Buffer& out) {
  forward<Mode::Bicubic>("upsample_bicubic2d", g, in, out);
}
void upsample_bicubic2d_backward_cpu(const KernelContext&, const UpsampleGeometry& g,
                                     const Buffer& grad_out, const Buffer& grad_in) {
  backward<Mode::Bicubic>("upsample_bicubic2d_backward", g, grad_out, grad_in);
}

TANDEM_REGISTER_CPU_KERNEL(upsample_nearest2d_forward, upsample_nearest2d_forward_cpu);
TANDEM_REGISTER_CPU_KERNEL(upsample_nearest2d_backward, upsample_nearest2d_backward_cpu);
TANDEM_REGISTER_CPU_KERNEL(upsample_nearest_exact2d_forward, upsample_nearest_exact2d_forward_cpu);
TANDEM_REGISTER_CPU_KERNEL(upsample_nearest_exact2d_backward,
                           upsample_nearest_exact2d_backward_cpu);
TANDEM_REGISTER_CPU_KERNEL(upsample_bilinear2d_forward, upsample_bilinear2d_forward_cpu);
TANDEM_REGISTER_CPU_KERNEL(upsample_bilinear2d_backward, upsample_bilinear2d_backward_cpu);
TANDEM_REGISTER_CPU_KERNEL(upsample_bicubic2d_forward, upsample_bicubic2d_forward_cpu);
TANDEM_REGISTER_CPU_KERNEL(upsample_bicubic2d_backward, upsample_bicubic2d_backward_cpu);

}  // namespace tandem::kernels::cpu
