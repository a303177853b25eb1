// 2-D upsampling of NCHW tensors, as torch.nn.functional.interpolate: "nearest" (PyTorch's
// legacy nearest: src = floor(dst * in/out)) and "bilinear" with or without align_corners.
#pragma once

#include <optional>
#include <string>

#include "framework/ops/conv.h"

namespace tandem {

struct UpsampleScale {
  double h = 0, w = 0;
};

// Exactly one of size / scale_factor is given. align_corners is PyTorch's None by default (false
// for bilinear); giving it at all in nearest mode is PyTorch's error.
Tensor interpolate(const Tensor& x, std::optional<Pair> size,
                   std::optional<UpsampleScale> scale_factor, const std::string& mode = "nearest",
                   std::optional<bool> align_corners = std::nullopt);

}  // namespace tandem
