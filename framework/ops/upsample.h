// 2-D resampling of NCHW tensors, as torch.nn.functional.interpolate (PyTorch 1.13): "nearest"
// (PyTorch's legacy nearest: src = floor(dst * in/out)), "nearest-exact" (src =
// floor((dst + 0.5) * in/out)), "bilinear" and "bicubic" (with or without align_corners) and
// "area" (adaptive_avg_pool2d).
#pragma once

#include <optional>
#include <string>

#include "framework/ops/conv.h"

namespace tandem {

// scale_factor per axis: PyTorch's float or (h, w) tuple.
struct UpsampleScale {
  double h = 0, w = 0;
};

// Exactly one of size / scale_factor is given. align_corners is PyTorch's None by default (false
// for bilinear and bicubic); giving it at all in nearest, nearest-exact or area mode is PyTorch's
// error. With a scale_factor the output size is floor(in * scale_factor) and the kernels sample
// at 1/scale_factor source pixels per output pixel, as PyTorch does, unless
// recompute_scale_factor is true (then in/out, as if the size had been given); area mode always
// recomputes.
Tensor interpolate(const Tensor& x, std::optional<Pair> size,
                   std::optional<UpsampleScale> scale_factor, const std::string& mode = "nearest",
                   std::optional<bool> align_corners = std::nullopt,
                   std::optional<bool> recompute_scale_factor = std::nullopt);

}  // namespace tandem
