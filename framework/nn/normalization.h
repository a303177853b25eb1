// LayerNorm and GroupNorm, as torch/nn/modules/normalization.py: parameters `weight` (ones) and
// `bias` (zeros) when elementwise_affine / affine, of normalized_shape and (num_channels,); no
// buffers. The math is ops::layer_norm and ops::group_norm (framework/ops/normalization.h).
//
//   auto ln = std::make_shared<nn::LayerNorm>(Shape{8});
//   // LayerNorm((8,), eps=1e-05, elementwise_affine=True)
//   auto gn = std::make_shared<nn::GroupNorm>(2, 8);
//   // GroupNorm(2, 8, eps=1e-05, affine=True)
#pragma once

#include "framework/nn/module.h"

namespace tandem::nn {

class LayerNorm : public Module {
 public:
  explicit LayerNorm(Shape normalized_shape, double eps = 1e-5, bool elementwise_affine = true);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  void reset_parameters();

  Shape normalized_shape;
  double eps;
  bool elementwise_affine;
  Tensor weight, bias;  // if elementwise_affine
};

class GroupNorm : public Module {
 public:
  GroupNorm(int64_t num_groups, int64_t num_channels, double eps = 1e-5, bool affine = true);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  void reset_parameters();

  int64_t num_groups, num_channels;
  double eps;
  bool affine;
  Tensor weight, bias;  // if affine
};

}  // namespace tandem::nn
