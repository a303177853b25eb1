// Loss modules: the weight is a buffer (as PyTorch's _WeightedLoss), so it follows to().
#include "framework/nn/loss.h"

namespace tandem::nn {

LossBase::LossBase(const char* name, std::string red) : Module(name), reduction(std::move(red)) {
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

}  // namespace tandem::nn
