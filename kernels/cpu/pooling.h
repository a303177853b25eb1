// 2-D pooling over planes (N*C planes of H x W), as PyTorch's CPU kernels: max pooling records
// the flat index of each window's maximum (first one wins; NaN counts as the maximum); average
// pooling divides by the window size PyTorch uses (count_include_pad, windows clipped at the
// padded border); adaptive average pooling uses start=floor(i*in/out), end=ceil((i+1)*in/out).
#pragma once

#include <cstdint>

namespace tandem::kernels::cpu {

struct PoolGeometry {
  int64_t planes, in_h, in_w, out_h, out_w;
  int64_t kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w;
};

template <typename T>
void max_pool2d(const T* in, const PoolGeometry& g, T* out, int64_t* indices);
template <typename T>
void max_pool2d_backward(const T* grad_out, const int64_t* indices, const PoolGeometry& g,
                         T* grad_in);

template <typename T>
void avg_pool2d(const T* in, const PoolGeometry& g, bool count_include_pad, T* out);
template <typename T>
void avg_pool2d_backward(const T* grad_out, const PoolGeometry& g, bool count_include_pad,
                         T* grad_in);

template <typename T>
void adaptive_avg_pool2d(const T* in, const PoolGeometry& g, T* out);
template <typename T>
void adaptive_avg_pool2d_backward(const T* grad_out, const PoolGeometry& g, T* grad_in);

}  // namespace tandem::kernels::cpu
