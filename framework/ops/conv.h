// 2-D convolution and transposed convolution (NCHW), with stride, padding, dilation and groups,
// as torch.nn.functional.conv2d / conv_transpose2d. CPU: im2col + OpenBLAS GEMM.
#pragma once

#include <array>

#include "framework/tensor/tensor.h"

namespace tandem {

using Pair = std::array<int64_t, 2>;

// input (N, C_in, H, W), weight (C_out, C_in/groups, kH, kW), bias (C_out) or undefined.
Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias = {}, Pair stride = {1, 1},
              Pair padding = {0, 0}, Pair dilation = {1, 1}, int64_t groups = 1);
// input (N, C_in, H, W), weight (C_in, C_out/groups, kH, kW).
Tensor conv_transpose2d(const Tensor& input, const Tensor& weight, const Tensor& bias = {},
                        Pair stride = {1, 1}, Pair padding = {0, 0}, Pair output_padding = {0, 0},
                        int64_t groups = 1, Pair dilation = {1, 1});

}  // namespace tandem
