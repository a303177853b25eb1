// CPU upsampling kernels over planes, index rules as aten/src/ATen/native/UpSample.h: nearest
// (PyTorch's legacy rule) and bilinear (align_corners or half-pixel); backward accumulates.
#include "kernels/cpu/register.h"

#include <algorithm>
#include <cmath>

namespace tandem::kernels::cpu {
namespace {

int64_t nearest_index(int64_t dst, int64_t in, double scale) {
  return std::min(int64_t(std::floor(double(dst) * scale)), in - 1);
}

// Source coordinate of a destination pixel for linear interpolation.
double linear_source(int64_t dst, double scale, bool align_corners) {
  if (align_corners) return double(dst) * scale;
  const double src = (double(dst) + 0.5) * scale - 0.5;
  return src < 0 ? 0.0 : src;
}

struct Taps {
  int64_t i0, i1;
  double l0, l1;
};
Taps taps(int64_t dst, int64_t in, double scale, bool align_corners) {
  const double src = linear_source(dst, scale, align_corners);
  const int64_t i0 = std::min(int64_t(src), in - 1);
  const int64_t i1 = i0 + (i0 < in - 1 ? 1 : 0);
  const double l1 = std::min(std::max(src - double(i0), 0.0), 1.0);
  return {i0, i1, 1.0 - l1, l1};
}

}  // namespace

template <typename T>
void upsample_nearest2d(const T* in, const UpsampleGeometry& g, T* out) {
  for (int64_t p = 0; p < g.planes; ++p)
    for (int64_t oh = 0; oh < g.out_h; ++oh) {
      const int64_t ih = nearest_index(oh, g.in_h, g.scale_h);
      for (int64_t ow = 0; ow < g.out_w; ++ow)
        out[(p * g.out_h + oh) * g.out_w + ow] =
            in[(p * g.in_h + ih) * g.in_w + nearest_index(ow, g.in_w, g.scale_w)];
    }
}

template <typename T>
void upsample_nearest2d_backward(const T* grad_out, const UpsampleGeometry& g, T* grad_in) {
  for (int64_t p = 0; p < g.planes; ++p)
    for (int64_t oh = 0; oh < g.out_h; ++oh) {
      const int64_t ih = nearest_index(oh, g.in_h, g.scale_h);
      for (int64_t ow = 0; ow < g.out_w; ++ow)
        grad_in[(p * g.in_h + ih) * g.in_w + nearest_index(ow, g.in_w, g.scale_w)] +=
            grad_out[(p * g.out_h + oh) * g.out_w + ow];
    }
}

template <typename T>
void upsample_bilinear2d(const T* in, const UpsampleGeometry& g, T* out) {
  for (int64_t p = 0; p < g.planes; ++p) {
    const T* src = in + p * g.in_h * g.in_w;
    for (int64_t oh = 0; oh < g.out_h; ++oh) {
      const Taps h = taps(oh, g.in_h, g.scale_h, g.align_corners);
      for (int64_t ow = 0; ow < g.out_w; ++ow) {
        const Taps w = taps(ow, g.in_w, g.scale_w, g.align_corners);
        const double v = h.l0 * (w.l0 * double(src[h.i0 * g.in_w + w.i0]) +
                                 w.l1 * double(src[h.i0 * g.in_w + w.i1])) +
                         h.l1 * (w.l0 * double(src[h.i1 * g.in_w + w.i0]) +
                                 w.l1 * double(src[h.i1 * g.in_w + w.i1]));
        out[(p * g.out_h + oh) * g.out_w + ow] = T(v);
      }
    }
  }
}

template <typename T>
void upsample_bilinear2d_backward(const T* grad_out, const UpsampleGeometry& g, T* grad_in) {
  for (int64_t p = 0; p < g.planes; ++p) {
    T* dst = grad_in + p * g.in_h * g.in_w;
    for (int64_t oh = 0; oh < g.out_h; ++oh) {
      const Taps h = taps(oh, g.in_h, g.scale_h, g.align_corners);
      for (int64_t ow = 0; ow < g.out_w; ++ow) {
        const Taps w = taps(ow, g.in_w, g.scale_w, g.align_corners);
        const double go = double(grad_out[(p * g.out_h + oh) * g.out_w + ow]);
        dst[h.i0 * g.in_w + w.i0] += T(h.l0 * w.l0 * go);
        dst[h.i0 * g.in_w + w.i1] += T(h.l0 * w.l1 * go);
        dst[h.i1 * g.in_w + w.i0] += T(h.l1 * w.l0 * go);
        dst[h.i1 * g.in_w + w.i1] += T(h.l1 * w.l1 * go);
      }
    }
  }
}

void upsample_nearest2d_forward_cpu(const KernelContext&, const UpsampleGeometry& g,
                                    const Buffer& in, const Buffer& out) {
  dispatch_floating(in.dtype, "upsample_nearest2d", [&](auto tag) {
    using T = typename decltype(tag)::type;
    upsample_nearest2d<T>(in.as<const T>(), g, out.as<T>());
  });
}

void upsample_nearest2d_backward_cpu(const KernelContext&, const UpsampleGeometry& g,
                                     const Buffer& grad_out, const Buffer& grad_in) {
  dispatch_floating(grad_out.dtype, "upsample_nearest2d_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    upsample_nearest2d_backward<T>(grad_out.as<const T>(), g, grad_in.as<T>());
  });
}

void upsample_bilinear2d_forward_cpu(const KernelContext&, const UpsampleGeometry& g,
                                     const Buffer& in, const Buffer& out) {
  dispatch_floating(in.dtype, "upsample_bilinear2d", [&](auto tag) {
    using T = typename decltype(tag)::type;
    upsample_bilinear2d<T>(in.as<const T>(), g, out.as<T>());
  });
}

void upsample_bilinear2d_backward_cpu(const KernelContext&, const UpsampleGeometry& g,
                                      const Buffer& grad_out, const Buffer& grad_in) {
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
