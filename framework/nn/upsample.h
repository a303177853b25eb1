// Upsample (torch/nn/modules/upsampling.py): size or scale_factor, mode, align_corners.
//   Upsample(scale_factor=2.0, mode=bilinear)  -- repr as PyTorch 1.13 (mode unquoted)
#pragma once

#include <optional>
#include <string>

#include "framework/nn/module.h"
#include "framework/nn/size2.h"

namespace tandem::nn {

struct UpsampleOptions {
  std::optional<Size2> size;
  std::optional<double> scale_factor;
  std::string mode = "nearest";
  std::optional<bool> align_corners;
};

class Upsample : public Module {
 public:
  explicit Upsample(const UpsampleOptions& options);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  UpsampleOptions options;
};

}  // namespace tandem::nn
