// 2-D pooling (NCHW or CHW), as torch.nn.functional's max_pool2d, avg_pool2d and
// adaptive_avg_pool2d. Without a stride, stride = kernel_size (PyTorch's default, None); an
// explicit stride of 0 is PyTorch's error, "stride should not be zero".
#pragma once

#include "framework/ops/conv.h"

namespace tandem {

Tensor max_pool2d(const Tensor& x, Pair kernel_size);
Tensor max_pool2d(const Tensor& x, Pair kernel_size, Pair stride, Pair padding = {0, 0},
                  Pair dilation = {1, 1}, bool ceil_mode = false);
Tensor avg_pool2d(const Tensor& x, Pair kernel_size);
Tensor avg_pool2d(const Tensor& x, Pair kernel_size, Pair stride, Pair padding = {0, 0},
                  bool ceil_mode = false, bool count_include_pad = true);
Tensor adaptive_avg_pool2d(const Tensor& x, Pair output_size);

}  // namespace tandem
