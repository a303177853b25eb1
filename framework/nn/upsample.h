// Upsample (torch/nn/modules/upsampling.py): size or scale_factor (one number or an (h, w)
// pair), mode (nearest, nearest-exact, bilinear, bicubic, area), align_corners,
// recompute_scale_factor. The repr is PyTorch 1.13's (mode unquoted, floats as Python prints them):
//   Upsample(scale_factor=2.0, mode=bilinear)
//   Upsample(scale_factor=(2.0, 3.0), mode=bicubic)
#pragma once

#include <optional>
#include <string>

#include "framework/nn/module.h"
#include "framework/nn/size2.h"

namespace tandem::nn {

// A scale factor that remembers whether it was one number or a pair, as PyTorch's repr prints
// what was passed ("2.0" vs "(2.0, 3.0)").
struct Scale2 {
  double h = 0, w = 0;
  bool scalar = true;
  Scale2() = default;
  Scale2(double v) : h(v), w(v), scalar(true) {}  // NOLINT: implicit, as PyTorch's float arg
  Scale2(double a, double b) : h(a), w(b), scalar(false) {}
  std::string str() const;
};

struct UpsampleOptions {
  std::optional<Size2> size;
  std::optional<Scale2> scale_factor;
  std::string mode = "nearest";
  std::optional<bool> align_corners;
  std::optional<bool> recompute_scale_factor;
};

class Upsample : public Module {
 public:
  explicit Upsample(const UpsampleOptions& options);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  UpsampleOptions options;
};

}  // namespace tandem::nn
