// 2-D pooling (NCHW or CHW), as torch.nn.functional's max_pool2d, avg_pool2d,
// adaptive_avg_pool2d, adaptive_max_pool2d and max_unpool2d. Without a stride,
// stride = kernel_size (PyTorch's default, None); an explicit stride of 0 is PyTorch's error,
// "stride should not be zero".
//
// PyTorch's return_indices=True is the *_with_indices form (F.max_pool2d_with_indices,
// F.adaptive_max_pool2d_with_indices), as a C++ return type cannot depend on a flag: it returns
// (output, indices), the indices int64 and flat in each input plane (h * W + w), which is what
// max_unpool2d takes.
//
// The adaptive pools' output size is an AdaptiveSize: one int for both axes, a pair, or a pair
// with None (std::nullopt), which keeps the input's size along that axis, as PyTorch's
// F.adaptive_avg_pool2d(x, (None, 7)):
//   Tensor y = adaptive_avg_pool2d(x, {std::nullopt, 7});  // (N, C, H, 7)
#pragma once

#include <optional>
#include <utility>
#include <vector>

#include "framework/ops/conv.h"

namespace tandem {

struct AdaptiveSize {
  std::optional<int64_t> h, w;
  AdaptiveSize(int64_t v) : h(v), w(v) {}  // NOLINT: implicit, as PyTorch's int argument
  AdaptiveSize(std::optional<int64_t> h, std::optional<int64_t> w) : h(h), w(w) {}
  AdaptiveSize(Pair p) : h(p[0]), w(p[1]) {}  // NOLINT
  // The size for an input of in_h x in_w: None takes the input's.
  Pair resolve(int64_t in_h, int64_t in_w) const { return {h.value_or(in_h), w.value_or(in_w)}; }
};

Tensor max_pool2d(const Tensor& x, Pair kernel_size);
Tensor max_pool2d(const Tensor& x, Pair kernel_size, Pair stride, Pair padding = {0, 0},
                  Pair dilation = {1, 1}, bool ceil_mode = false);
std::pair<Tensor, Tensor> max_pool2d_with_indices(const Tensor& x, Pair kernel_size);
std::pair<Tensor, Tensor> max_pool2d_with_indices(const Tensor& x, Pair kernel_size, Pair stride,
                                                  Pair padding = {0, 0}, Pair dilation = {1, 1},
                                                  bool ceil_mode = false);
// divisor_override: every window's divisor when given (not 0: "divisor must be not zero").
Tensor avg_pool2d(const Tensor& x, Pair kernel_size);
Tensor avg_pool2d(const Tensor& x, Pair kernel_size, Pair stride, Pair padding = {0, 0},
                  bool ceil_mode = false, bool count_include_pad = true,
                  std::optional<int64_t> divisor_override = std::nullopt);
Tensor adaptive_avg_pool2d(const Tensor& x, AdaptiveSize output_size);
// Output (i, j) is the max over rows [floor(i*H/oh), ceil((i+1)*H/oh)) and the same columns for
// j; a NaN in a window is its max.
Tensor adaptive_max_pool2d(const Tensor& x, AdaptiveSize output_size);
std::pair<Tensor, Tensor> adaptive_max_pool2d_with_indices(const Tensor& x,
                                                           AdaptiveSize output_size);

// The inverse of max_pool2d_with_indices: zeros of the unpooled size with x[i] at indices[i] in
// its plane (the last of equal indices wins, as on PyTorch's CPU). The size is
// (H - 1) * stride - 2 * padding + kernel_size, or output_size ((h, w), or (N, C, h, w) whose
// last two count), which must lie strictly within stride of that. The gradient of x gathers the
// output's gradient at the indices.
//   auto [y, idx] = max_pool2d_with_indices(x, {2, 2});
//   Tensor back = max_unpool2d(y, idx, {2, 2}, std::nullopt, {0, 0},
//                              std::vector<int64_t>{x.size(-2), x.size(-1)});
Tensor max_unpool2d(const Tensor& x, const Tensor& indices, Pair kernel_size,
                    std::optional<Pair> stride = std::nullopt, Pair padding = {0, 0},
                    const std::optional<std::vector<int64_t>>& output_size = std::nullopt);

}  // namespace tandem
