// 2-D upsampling over planes (N*C planes of H x W): nearest (PyTorch's legacy rule) and
// bilinear (align_corners or half-pixel), forward and backward (grad_in zeroed by the caller).
// `scale_h/w` are PyTorch's source-per-destination scales (see framework/ops/upsample.cpp).
#pragma once

#include <cstdint>

namespace tandem::kernels::cpu {

struct UpsampleGeometry {
  int64_t planes, in_h, in_w, out_h, out_w;
  double scale_h, scale_w;
  bool align_corners;
};

template <typename T>
void upsample_nearest2d(const T* in, const UpsampleGeometry& g, T* out);
template <typename T>
void upsample_nearest2d_backward(const T* grad_out, const UpsampleGeometry& g, T* grad_in);
template <typename T>
void upsample_bilinear2d(const T* in, const UpsampleGeometry& g, T* out);
template <typename T>
void upsample_bilinear2d_backward(const T* grad_out, const UpsampleGeometry& g, T* grad_in);

}  // namespace tandem::kernels::cpu
