// The run's training criterion, from the config's loss section: cross-entropy
// (nn.CrossEntropyLoss) with class weights and label smoothing, over class labels, or for a
// segmentation dataset over the pixels of (N, C, H, W) logits against (N, H, W) masks, skipping
// data.ignore_index as PyTorch's ignore_index does. Classification keeps PyTorch's default
// ignore_index (-100): a class numbered 255 is a class there.
#pragma once

#include "framework/ops/loss.h"
#include "launch/config.h"

namespace tandem::launch {

class Criterion {
 public:
  // The class weights live on `device`; their count must equal `num_classes` (error naming
  // loss.weight).
  Criterion(const RunConfig& cfg, bool segmentation, int64_t num_classes, Device device);
  Tensor operator()(const Tensor& logits, const Tensor& targets) const;
  int64_t ignore_index() const { return ignore_index_; }
  bool segmentation() const { return segmentation_; }

 private:
  Tensor weight_;  // undefined: no class weights
  double label_smoothing_;
  int64_t ignore_index_;
  bool segmentation_;
};

}  // namespace tandem::launch
