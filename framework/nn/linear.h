// Linear (y = x W^T + b) and Identity, as torch/nn/modules/linear.py.
//
//   auto fc = std::make_shared<nn::Linear>(784, 256);   // Linear(in_features=784,
//   out_features=256, bias=True)
#pragma once

#include "framework/nn/module.h"
#include "framework/tensor/generator.h"

namespace tandem::nn {

struct LinearOptions {
  int64_t in_features = 0;
  int64_t out_features = 0;
  bool bias = true;
};

class Linear : public Module {
 public:
  explicit Linear(const LinearOptions& options, Generator& gen = default_generator());
  Linear(int64_t in_features, int64_t out_features, bool bias = true,
         Generator& gen = default_generator())
      : Linear(LinearOptions{in_features, out_features, bias}, gen) {}
  void reset_parameters(Generator& gen = default_generator());
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

  LinearOptions options;
  Tensor weight;  // [out_features, in_features]
  Tensor bias;    // [out_features] or undefined
};

class Identity : public Module {
 public:
  Identity() : Module("Identity") {}
  Tensor forward(const Tensor& x) override { return x; }
  std::vector<Tensor> forward_many(const std::vector<Tensor>& xs) override { return xs; }
};

}  // namespace tandem::nn
