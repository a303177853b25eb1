// im2col / col2im (see conv.h).
#include "kernels/cpu/conv.h"

#include <cstring>

namespace tandem::kernels::cpu {

template <typename T>
void im2col(const T* image, const ConvGeometry& g, T* columns) {
  const int64_t L = g.out_h * g.out_w;
  for (int64_t c = 0; c < g.channels; ++c)
    for (int64_t kh = 0; kh < g.kernel_h; ++kh)
      for (int64_t kw = 0; kw < g.kernel_w; ++kw) {
        T* row = columns + ((c * g.kernel_h + kh) * g.kernel_w + kw) * L;
        const T* plane = image + c * g.height * g.width;
        for (int64_t oh = 0; oh < g.out_h; ++oh) {
          const int64_t ih = oh * g.stride_h - g.pad_h + kh * g.dilation_h;
          T* out = row + oh * g.out_w;
          if (ih < 0 || ih >= g.height) {
            std::memset(out, 0, sizeof(T) * size_t(g.out_w));
            continue;
          }
          const T* src = plane + ih * g.width;
          const int64_t off = kw * g.dilation_w - g.pad_w;
          if (g.stride_w == 1) {
            // Contiguous run: zeros where the window hangs over the left/right edge.
            for (int64_t ow = 0; ow < g.out_w; ++ow) {
              const int64_t iw = ow + off;
              out[ow] = (iw >= 0 && iw < g.width) ? src[iw] : T(0);
            }
          } else {
            for (int64_t ow = 0; ow < g.out_w; ++ow) {
              const int64_t iw = ow * g.stride_w + off;
              out[ow] = (iw >= 0 && iw < g.width) ? src[iw] : T(0);
            }
          }
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
        for (int64_t oh = 0; oh < g.out_h; ++oh) {
          const int64_t ih = oh * g.stride_h - g.pad_h + kh * g.dilation_h;
          if (ih < 0 || ih >= g.height) continue;
          T* dst = plane + ih * g.width;
          const T* in = row + oh * g.out_w;
          for (int64_t ow = 0; ow < g.out_w; ++ow) {
            const int64_t iw = ow * g.stride_w - g.pad_w + kw * g.dilation_w;
            if (iw >= 0 && iw < g.width) dst[iw] += in[ow];
          }
        }
      }
}

template void im2col<float>(const float*, const ConvGeometry&, float*);
template void im2col<double>(const double*, const ConvGeometry&, double*);
template void col2im<float>(const float*, const ConvGeometry&, float*);
template void col2im<double>(const double*, const ConvGeometry&, double*);

}  // namespace tandem::kernels::cpu
