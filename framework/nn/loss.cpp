// Loss modules: weight and pos_weight are buffers (as PyTorch's _WeightedLoss and
// BCEWithLogitsLoss), so they follow to().
#include "framework/nn/loss.h"

namespace tandem::nn {

LossBase::LossBase(const char* name, std::string red, bool allow_batchmean)
    : Module(name), reduction(std::move(red)) {
  if (!(allow_batchmean && reduction == "batchmean"))
    reduction_from_string(reduction);  // validates
}

std::vector<Tensor> LossBase::forward_many(const std::vector<Tensor>& inputs) {
  TANDEM_CHECK(inputs.size() == 2, name(), " takes (input, target), got ", inputs.size(),
               " tensors");
  return {(*this)(inputs[0], inputs[1])};
}

CrossEntropyLoss::CrossEntropyLoss(const CrossEntropyLossOptions& o)
    : LossBase("CrossEntropyLoss", o.reduction), options(o) {
  options.weight = register_buffer("weight", o.weight);
}

Tensor CrossEntropyLoss::operator()(const Tensor& input, const Tensor& target) {
  return cross_entropy(input, target, options.weight, reduction_from_string(reduction),
                       options.ignore_index, options.label_smoothing);
}

NLLLoss::NLLLoss(const NLLLossOptions& o) : LossBase("NLLLoss", o.reduction), options(o) {
  options.weight = register_buffer("weight", o.weight);
}

Tensor NLLLoss::operator()(const Tensor& input, const Tensor& target) {
  return nll_loss(input, target, options.weight, reduction_from_string(reduction),
                  options.ignore_index);
}

Tensor MSELoss::operator()(const Tensor& input, const Tensor& target) {
  return mse_loss(input, target, reduction_from_string(reduction));
}

Tensor L1Loss::operator()(const Tensor& input, const Tensor& target) {
  return l1_loss(input, target, reduction_from_string(reduction));
}

SmoothL1Loss::SmoothL1Loss(const SmoothL1LossOptions& o)
    : LossBase("SmoothL1Loss", o.reduction), options(o) {}

Tensor SmoothL1Loss::operator()(const Tensor& input, const Tensor& target) {
  return smooth_l1_loss(input, target, reduction_from_string(reduction), options.beta);
}

HuberLoss::HuberLoss(const HuberLossOptions& o) : LossBase("HuberLoss", o.reduction), options(o) {}

Tensor HuberLoss::operator()(const Tensor& input, const Tensor& target) {
  return huber_loss(input, target, reduction_from_string(reduction), options.delta);
}

BCELoss::BCELoss(const BCELossOptions& o) : LossBase("BCELoss", o.reduction), options(o) {
  options.weight = register_buffer("weight", o.weight);
}

Tensor BCELoss::operator()(const Tensor& input, const Tensor& target) {
  return binary_cross_entropy(input, target, options.weight, reduction_from_string(reduction));
}

BCEWithLogitsLoss::BCEWithLogitsLoss(const BCEWithLogitsLossOptions& o)
    : LossBase("BCEWithLogitsLoss", o.reduction), options(o) {
  options.weight = register_buffer("weight", o.weight);
  options.pos_weight = register_buffer("pos_weight", o.pos_weight);
}

Tensor BCEWithLogitsLoss::operator()(const Tensor& input, const Tensor& target) {
  return binary_cross_entropy_with_logits(input, target, options.weight,
                                          reduction_from_string(reduction), options.pos_weight);
}

KLDivLoss::KLDivLoss(const KLDivLossOptions& o)
    : LossBase("KLDivLoss", o.reduction, /*allow_batchmean=*/true), options(o) {}

Tensor KLDivLoss::operator()(const Tensor& input, const Tensor& target) {
  return kl_div(input, target, reduction, options.log_target);
}

}  // namespace tandem::nn
