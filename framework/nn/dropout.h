// Dropout and channel dropout, Dropout1d/2d/3d (torch/nn/modules/dropout.py): identity in eval
// mode; in training they draw their masks from their own Generator if given, else the default
// one. `inplace` is kept for PyTorch's repr only: forward returns a new tensor and never writes
// its input (the values are PyTorch's either way).
#pragma once

#include <memory>

#include "framework/nn/module.h"
#include "framework/tensor/generator.h"

namespace tandem::nn {

class Dropout : public Module {
 public:
  explicit Dropout(double p = 0.5, bool inplace = false,
                   std::shared_ptr<Generator> generator = nullptr)
      : Dropout("Dropout", p, inplace, std::move(generator)) {}
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  double p;
  bool inplace;
  std::shared_ptr<Generator> generator;  // null: tandem::default_generator()

 protected:
  Dropout(const char* class_name, double p, bool inplace, std::shared_ptr<Generator> generator);
  Generator& gen() { return generator ? *generator : default_generator(); }
};

// Channel dropout over `Spatial` spatial dimensions: zeroes whole channels of (C, L) or (N, C, L)
// input (Dropout1d, F.dropout1d), of (N, C, H, W) input (Dropout2d), of (C, D, H, W) or
// (N, C, D, H, W) input (Dropout3d).
template <int Spatial>
class DropoutNd : public Dropout {
  static_assert(Spatial >= 1 && Spatial <= 3);

 public:
  explicit DropoutNd(double p = 0.5, bool inplace = false,
                     std::shared_ptr<Generator> generator = nullptr)
      : Dropout(Spatial == 1   ? "Dropout1d"
                : Spatial == 2 ? "Dropout2d"
                               : "Dropout3d",
                p, inplace, std::move(generator)) {}
  Tensor forward(const Tensor& x) override;
};

using Dropout1d = DropoutNd<1>;
using Dropout2d = DropoutNd<2>;
using Dropout3d = DropoutNd<3>;

}  // namespace tandem::nn
