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

// Zeroes whole channels of (C, L) or (N, C, L) input (F.dropout1d).
class Dropout1d : public Dropout {
 public:
  explicit Dropout1d(double p = 0.5, bool inplace = false,
                     std::shared_ptr<Generator> generator = nullptr)
      : Dropout("Dropout1d", p, inplace, std::move(generator)) {}
  Tensor forward(const Tensor& x) override;
};

// Zeroes whole channels of (N, C, H, W) input (F.dropout2d).
class Dropout2d : public Dropout {
 public:
  explicit Dropout2d(double p = 0.5, bool inplace = false,
                     std::shared_ptr<Generator> generator = nullptr)
      : Dropout("Dropout2d", p, inplace, std::move(generator)) {}
  Tensor forward(const Tensor& x) override;
};

// Zeroes whole channels of (C, D, H, W) or (N, C, D, H, W) input (F.dropout3d).
class Dropout3d : public Dropout {
 public:
  explicit Dropout3d(double p = 0.5, bool inplace = false,
                     std::shared_ptr<Generator> generator = nullptr)
      : Dropout("Dropout3d", p, inplace, std::move(generator)) {}
  Tensor forward(const Tensor& x) override;
};

}  // namespace tandem::nn
