// ConfusionMatrix: per-class counts of (target, prediction) pairs, and the segmentation metrics
// computed from them, as mmsegmentation's and torchmetrics' are: pixel accuracy, per-class IoU
// and Dice, and their means over the classes that occur.
//
//   metrics::ConfusionMatrix cm(num_classes, /*ignore_index=*/255);
//   cm.add(predictions, targets);            // CPU int64 tensors of one shape, e.g. (N, H, W)
//   std::vector<double> c = cm.counts();     // all-reduce (sum) across ranks, then
//   cm.set_counts(c);                        // every rank computes the same metrics
//   double miou = cm.mean_iou();
//
// Counts are exact up to 2^53 per cell as doubles (a 2^53-pixel evaluation is far away), which
// is what makes counts() safe to sum in float64 collectives.
#pragma once

#include <cstdint>
#include <vector>

#include "framework/tensor/tensor.h"

namespace tandem::metrics {

class ConfusionMatrix {
 public:
  // Targets equal to ignore_index are skipped (255: torchvision's segmentation references and
  // mmseg; -100: nn.CrossEntropyLoss's default). num_classes is at most 4096.
  explicit ConfusionMatrix(int64_t num_classes, int64_t ignore_index = 255);

  // Counts `count` (prediction, target) pairs. A target out of [0, num_classes) that is not
  // ignore_index, or a prediction out of range, is an error naming the element; nothing is
  // counted from a call that fails.
  void add(const int64_t* predictions, const int64_t* targets, int64_t count);
  // CPU int64 tensors of equal shape (any layout).
  void add(const Tensor& predictions, const Tensor& targets);
  // Adds another matrix's counts (same num_classes).
  void merge(const ConfusionMatrix& other);
  void reset();

  int64_t num_classes() const { return num_classes_; }
  int64_t ignore_index() const { return ignore_index_; }
  // counts()[target * num_classes + prediction]: rows are targets, columns predictions.
  std::vector<double> counts() const;
  // Replaces the counts (e.g. with their sum over ranks); num_classes^2 non-negative integers.
  void set_counts(const std::vector<double>& counts);
  int64_t count(int64_t target, int64_t prediction) const;
  int64_t total() const;  // pairs counted (ignored targets excluded)

  // trace / total; NaN when nothing was counted.
  double pixel_accuracy() const;
  // Per class: tp / (tp + fp + fn), NaN for a class that is neither a target nor predicted.
  std::vector<double> iou() const;
  // Per class: 2 tp / (2 tp + fp + fn), NaN likewise.
  std::vector<double> dice() const;
  // Means over the classes whose value is not NaN (numpy's nanmean, as mmseg's mIoU); NaN if
  // every class is absent.
  double mean_iou() const;
  double mean_dice() const;

 private:
  std::vector<double> per_class(bool dice) const;

  int64_t num_classes_;
  int64_t ignore_index_;
  std::vector<int64_t> counts_;  // row-major (target, prediction)
};

}  // namespace tandem::metrics
