#include "launch/criterion.h"

#include "framework/tensor/factories.h"

namespace tandem::launch {

Criterion::Criterion(const RunConfig& cfg, bool segmentation, int64_t num_classes, Device device)
    : label_smoothing_(cfg.loss.label_smoothing),
      ignore_index_(segmentation ? cfg.data.ignore_index : -100),
      segmentation_(segmentation) {
  const auto& w = cfg.loss.weight;
  if (w.empty()) return;
  if (int64_t(w.size()) != num_classes)
    throw Error("loss.weight has " + std::to_string(w.size()) + " values but " + cfg.data.dataset +
                    " has " + std::to_string(num_classes) + " classes",
                "give one weight per class, in class-index order");
  std::vector<float> values(w.begin(), w.end());
  weight_ = from_vector(values, {int64_t(values.size())}).to(device);
}

Tensor Criterion::operator()(const Tensor& logits, const Tensor& targets) const {
  return cross_entropy(logits, targets, weight_, Reduction::Mean, ignore_index_, label_smoothing_);
}

}  // namespace tandem::launch
