// im2col / col2im (see conv.h).
#include "kernels/cpu/conv.h"

#include <algorithm>
#include <cstring>

namespace tandem::kernels::cpu {

namespace {

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

}  // namespace

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

template void im2col<float>(const float*, const ConvGeometry&, float*);
template void im2col<double>(const double*, const ConvGeometry&, double*);
template void col2im<float>(const float*, const ConvGeometry&, float*);
template void col2im<double>(const double*, const ConvGeometry&, double*);

}  // namespace tandem::kernels::cpu
