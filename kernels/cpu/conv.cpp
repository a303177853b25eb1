// CPU convolution: each image and group is one GEMM on im2col columns. The column matrix has one
// row per (channel, kernel row, kernel column) and one column per output position, so a
// convolution is the (C_out, C*kH*kW) weight matrix times the columns; its input-gradient is
// col2im (the adjoint, accumulating) of W^T @ dY and its weight-gradient dY @ columns^T.
#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/cpu/gemm.h"
#include "kernels/cpu/register.h"

namespace tandem::kernels::cpu {

namespace {

// One image (C, H, W) of one group, and the output positions of the convolution.
struct ConvGeometry {
  int64_t channels, height, width;
  int64_t kernel_h, kernel_w;
  int64_t pad_h, pad_w, stride_h, stride_w, dilation_h, dilation_w;
  int64_t out_h, out_w;
};

// The output columns [lo, hi) whose input column ow * stride + off lies inside [0, width): the
// window hangs over the left edge before lo and over the right edge from hi on. Computing the
// range once per row keeps the copy loops free of bounds tests (they then vectorise).
void valid_columns(int64_t off, int64_t stride, int64_t width, int64_t out_w, int64_t& lo,
                   int64_t& hi) {
  lo = off >= 0 ? 0 : (-off + stride - 1) / stride;
  hi = width - off <= 0 ? 0 : (width - off + stride - 1) / stride;
  lo = std::min(lo, out_w);
  hi = std::clamp(hi, lo, out_w);
}

template <typename T>
void im2col(const T* image, const ConvGeometry& g, T* columns) {
  const int64_t L = g.out_h * g.out_w;
  for (int64_t c = 0; c < g.channels; ++c)
    for (int64_t kh = 0; kh < g.kernel_h; ++kh)
      for (int64_t kw = 0; kw < g.kernel_w; ++kw) {
        T* row = columns + ((c * g.kernel_h + kh) * g.kernel_w + kw) * L;
        const T* plane = image + c * g.height * g.width;
        const int64_t off = kw * g.dilation_w - g.pad_w;
        int64_t lo, hi;
        valid_columns(off, g.stride_w, g.width, g.out_w, lo, hi);
        for (int64_t oh = 0; oh < g.out_h; ++oh) {
          const int64_t ih = oh * g.stride_h - g.pad_h + kh * g.dilation_h;
          T* out = row + oh * g.out_w;
          if (ih < 0 || ih >= g.height) {
            std::memset(out, 0, sizeof(T) * size_t(g.out_w));
            continue;
          }
          const T* src = plane + ih * g.width;
          std::fill(out, out + lo, T(0));
          if (g.stride_w == 1) {
            if (hi > lo) std::memcpy(out + lo, src + lo + off, sizeof(T) * size_t(hi - lo));
          } else {
            for (int64_t ow = lo; ow < hi; ++ow) out[ow] = src[ow * g.stride_w + off];
          }
          std::fill(out + hi, out + g.out_w, T(0));
        }
      }
}

template <typename T>
void col2im(const T* columns, const ConvGeometry& g, T* image) {
  const int64_t L = g.out_h * g.out_w;
  for (int64_t c = 0; c < g.channels; ++c)
    for (int64_t kh = 0; kh < g.kernel_h; ++kh)
      for (int64_t kw = 0; kw < g.kernel_w; ++kw) {
        const T* row = columns + ((c * g.kernel_h + kh) * g.kernel_w + kw) * L;
        T* plane = image + c * g.height * g.width;
        const int64_t off = kw * g.dilation_w - g.pad_w;
        int64_t lo, hi;
        valid_columns(off, g.stride_w, g.width, g.out_w, lo, hi);
        for (int64_t oh = 0; oh < g.out_h; ++oh) {
          const int64_t ih = oh * g.stride_h - g.pad_h + kh * g.dilation_h;
          if (ih < 0 || ih >= g.height) continue;
          T* dst = plane + ih * g.width;
          const T* in = row + oh * g.out_w;
          if (g.stride_w == 1) {
            for (int64_t ow = lo; ow < hi; ++ow) dst[ow + off] += in[ow];
          } else {
            for (int64_t ow = lo; ow < hi; ++ow) dst[ow * g.stride_w + off] += in[ow];
          }
        }
      }
}

ConvGeometry group_geometry(const Conv2dShape& s) {
  return {s.C / s.groups, s.H,        s.W,          s.kh,         s.kw, s.pad_h, s.pad_w,
          s.stride_h,     s.stride_w, s.dilation_h, s.dilation_w, s.oh, s.ow};
}

}  // namespace

// y[n] = W @ im2col(x[n]) (+ bias) per group. The bias is written into y first and the GEMM
// accumulates onto it, saving a broadcast add over the whole output.
void conv2d_forward_cpu(const KernelContext&, const Conv2dShape& s, const Buffer& x,
                        const Buffer& w, const Buffer& bias, const Buffer& y) {
  const int64_t G = s.groups, Cg = s.C / G, Cog = s.Co / G, K = Cg * s.kh * s.kw, L = s.oh * s.ow;
  const ConvGeometry g = group_geometry(s);
  const bool pointwise =
      s.kh == 1 && s.kw == 1 && s.stride_h == 1 && s.stride_w == 1 && s.pad_h == 0 && s.pad_w == 0;
  dispatch_floating(x.dtype, "conv2d", [&](auto tag) {
    using T = typename decltype(tag)::type;
    std::vector<T> cols(pointwise ? 0 : size_t(K * L));
    const T* xp = x.as<const T>();
    const T* wp = w.as<const T>();
    const T* bp = bias.as<const T>();
    T* yp = y.as<T>();
    for (int64_t n = 0; n < s.N; ++n)
      for (int64_t gi = 0; gi < G; ++gi) {
        T* out = yp + (n * s.Co + gi * Cog) * L;
        if (bp)
          for (int64_t c = 0; c < Cog; ++c)
            std::fill(out + c * L, out + (c + 1) * L, bp[gi * Cog + c]);
        const T* img = xp + (n * s.C + gi * Cg) * s.H * s.W;
        const T* col = img;  // a 1x1 stride-1 convolution reads the image as its own columns
        if (!pointwise) {
          im2col<T>(img, g, cols.data());
          col = cols.data();
        }
        gemm<T>(false, false, Cog, L, K, T(1), wp + gi * Cog * K, K, col, L, bp ? T(1) : T(0), out,
                L);
      }
  });
}

// dX = col2im(W^T @ dY) per image and group.
void conv2d_backward_input_cpu(const KernelContext&, const Conv2dShape& s, const Buffer& gy,
                               const Buffer& w, const Buffer& gx) {
  const int64_t G = s.groups, Cg = s.C / G, Cog = s.Co / G, K = Cg * s.kh * s.kw, L = s.oh * s.ow;
  const ConvGeometry g = group_geometry(s);
  dispatch_floating(gy.dtype, "conv2d_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    std::vector<T> cols(size_t(K * L));
    const T* gyp = gy.as<const T>();
    const T* wp = w.as<const T>();
    T* gxp = gx.as<T>();
    std::fill(gxp, gxp + s.N * s.C * s.H * s.W, T(0));
    for (int64_t n = 0; n < s.N; ++n)
      for (int64_t gi = 0; gi < G; ++gi) {
        gemm<T>(true, false, K, L, Cog, T(1), wp + gi * Cog * K, K, gyp + (n * s.Co + gi * Cog) * L,
                L, T(0), cols.data(), L);
        col2im<T>(cols.data(), g, gxp + (n * s.C + gi * Cg) * s.H * s.W);
      }
  });
}

// dW = sum_n dY[n] @ im2col(x[n])^T per group.
void conv2d_backward_weight_cpu(const KernelContext&, const Conv2dShape& s, const Buffer& x,
                                const Buffer& gy, const Buffer& gw) {
  const int64_t G = s.groups, Cg = s.C / G, Cog = s.Co / G, K = Cg * s.kh * s.kw, L = s.oh * s.ow;
  const ConvGeometry g = group_geometry(s);
  dispatch_floating(x.dtype, "conv2d_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    std::vector<T> cols(size_t(K * L));
    const T* xp = x.as<const T>();
    const T* gyp = gy.as<const T>();
    T* gwp = gw.as<T>();
    std::fill(gwp, gwp + s.Co * K, T(0));
    for (int64_t n = 0; n < s.N; ++n)
      for (int64_t gi = 0; gi < G; ++gi) {
        im2col<T>(xp + (n * s.C + gi * Cg) * s.H * s.W, g, cols.data());
        gemm<T>(false, true, Cog, K, L, T(1), gyp + (n * s.Co + gi * Cog) * L, L, cols.data(), L,
                T(1), gwp + gi * Cog * K, K);
      }
  });
}

TANDEM_REGISTER_CPU_KERNEL(conv2d_forward, conv2d_forward_cpu);
TANDEM_REGISTER_CPU_KERNEL(conv2d_backward_input, conv2d_backward_input_cpu);
TANDEM_REGISTER_CPU_KERNEL(conv2d_backward_weight, conv2d_backward_weight_cpu);

}  // namespace tandem::kernels::cpu
