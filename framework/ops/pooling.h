// 2-D pooling (NCHW or CHW), as torch.nn.functional's max_pool2d, avg_pool2d and
// adaptive_avg_pool2d. stride {0, 0} means stride = kernel_size, as PyTorch's default.
#pragma once

#include "framework/ops/conv.h"

namespace tandem {

Tensor max_pool2d(const Tensor& x, Pair kernel_size, Pair stride = {0, 0}, Pair padding = {0, 0},
                  Pair dilation = {1, 1}, bool ceil_mode = false);
Tensor avg_pool2d(const Tensor& x, Pair kernel_size, Pair stride = {0, 0}, Pair padding = {0, 0},
                  bool ceil_mode = false, bool count_include_pad = true);
Tensor adaptive_avg_pool2d(const Tensor& x, Pair output_size);

}  // namespace tandem
