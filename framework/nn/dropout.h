// Dropout (torch/nn/modules/dropout.py): identity in eval mode; in training draws its mask from
// its own Generator if given, else the default one. `inplace` is kept for PyTorch's repr only:
// forward returns a new tensor and never writes its input (the values are PyTorch's either way).
#pragma once

#include <memory>

#include "framework/nn/module.h"
#include "framework/tensor/generator.h"

namespace tandem::nn {

class Dropout : public Module {
 public:
  explicit Dropout(double p = 0.5, bool inplace = false,
                   std::shared_ptr<Generator> generator = nullptr);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  double p;
  bool inplace;
  std::shared_ptr<Generator> generator;  // null: tandem::default_generator()
};

}  // namespace tandem::nn
