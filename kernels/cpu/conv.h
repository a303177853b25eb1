// im2col / col2im for 2-D convolution on one image (C, H, W): the column matrix has one row
// per (channel, kernel row, kernel column) and one column per output position, so a
// convolution is one GEMM with the (C_out, C*kH*kW) weight matrix. col2im is its adjoint and
// accumulates (the image must be zeroed by the caller).
#pragma once

#include <cstdint>

namespace tandem::kernels::cpu {

struct ConvGeometry {
  int64_t channels, height, width;  // input image
  int64_t kernel_h, kernel_w;
  int64_t pad_h, pad_w, stride_h, stride_w, dilation_h, dilation_w;
  int64_t out_h, out_w;
};

template <typename T>
void im2col(const T* image, const ConvGeometry& g, T* columns);

template <typename T>
void col2im(const T* columns, const ConvGeometry& g, T* image);

}  // namespace tandem::kernels::cpu
