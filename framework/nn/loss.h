// Loss modules (torch/nn/modules/loss.py): CrossEntropyLoss, NLLLoss, MSELoss. They take
// (input, target) through forward_many({input, target}) or loss(input, target).
#pragma once

#include <string>

#include "framework/nn/module.h"
#include "framework/ops/loss.h"

namespace tandem::nn {

class LossBase : public Module {
 public:
  virtual Tensor operator()(const Tensor& input, const Tensor& target) = 0;
  std::vector<Tensor> forward_many(const std::vector<Tensor>& inputs) override;
  std::string reduction = "mean";

 protected:
  LossBase(const char* name, std::string reduction);
};

struct CrossEntropyLossOptions {
  Tensor weight;
  int64_t ignore_index = -100;
  std::string reduction = "mean";
  double label_smoothing = 0.0;
};

class CrossEntropyLoss : public LossBase {
 public:
  explicit CrossEntropyLoss(const CrossEntropyLossOptions& options = {});
  Tensor operator()(const Tensor& input, const Tensor& target) override;
  CrossEntropyLossOptions options;
};

struct NLLLossOptions {
  Tensor weight;
  int64_t ignore_index = -100;
  std::string reduction = "mean";
};

class NLLLoss : public LossBase {
 public:
  explicit NLLLoss(const NLLLossOptions& options = {});
  Tensor operator()(const Tensor& input, const Tensor& target) override;
  NLLLossOptions options;
};

class MSELoss : public LossBase {
 public:
  explicit MSELoss(std::string reduction = "mean") : LossBase("MSELoss", std::move(reduction)) {}
  Tensor operator()(const Tensor& input, const Tensor& target) override;
};

}  // namespace tandem::nn
