// Loss modules (torch/nn/modules/loss.py): CrossEntropyLoss, NLLLoss, MSELoss, L1Loss,
// SmoothL1Loss, HuberLoss, BCELoss, BCEWithLogitsLoss, KLDivLoss. They take (input, target)
// through forward_many({input, target}) or loss(input, target); the functions they call are in
// framework/ops/loss.h.
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
  // reduction must be "none", "mean" or "sum" (or "batchmean", where the loss allows it).
  LossBase(const char* name, std::string reduction, bool allow_batchmean = false);
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

class L1Loss : public LossBase {
 public:
  explicit L1Loss(std::string reduction = "mean") : LossBase("L1Loss", std::move(reduction)) {}
  Tensor operator()(const Tensor& input, const Tensor& target) override;
};

struct SmoothL1LossOptions {
  std::string reduction = "mean";
  double beta = 1.0;
};

class SmoothL1Loss : public LossBase {
 public:
  explicit SmoothL1Loss(const SmoothL1LossOptions& options = {});
  Tensor operator()(const Tensor& input, const Tensor& target) override;
  SmoothL1LossOptions options;
};

struct HuberLossOptions {
  std::string reduction = "mean";
  double delta = 1.0;
};

class HuberLoss : public LossBase {
 public:
  explicit HuberLoss(const HuberLossOptions& options = {});
  Tensor operator()(const Tensor& input, const Tensor& target) override;
  HuberLossOptions options;
};

struct BCELossOptions {
  Tensor weight;
  std::string reduction = "mean";
};

// On probabilities (after a sigmoid); BCEWithLogitsLoss, on logits, is the stable choice.
class BCELoss : public LossBase {
 public:
  explicit BCELoss(const BCELossOptions& options = {});
  Tensor operator()(const Tensor& input, const Tensor& target) override;
  BCELossOptions options;
};

struct BCEWithLogitsLossOptions {
  Tensor weight;
  std::string reduction = "mean";
  Tensor pos_weight;  // e.g. negatives / positives per class, shape (C)
};

class BCEWithLogitsLoss : public LossBase {
 public:
  explicit BCEWithLogitsLoss(const BCEWithLogitsLossOptions& options = {});
  Tensor operator()(const Tensor& input, const Tensor& target) override;
  BCEWithLogitsLossOptions options;
};

struct KLDivLossOptions {
  std::string reduction = "mean";  // or "batchmean", the KL divergence's own definition
  bool log_target = false;
};

// input: log-probabilities; target: probabilities (log-probabilities with log_target).
class KLDivLoss : public LossBase {
 public:
  explicit KLDivLoss(const KLDivLossOptions& options = {});
  Tensor operator()(const Tensor& input, const Tensor& target) override;
  KLDivLossOptions options;
};

}  // namespace tandem::nn
