// FashionMnistSegmentation: Fashion-MNIST as a segmentation task, for trying segmentation models
// (U-Net, IoU) on data every machine with Debian's dataset-fashion-mnist package has. The image
// is FashionMnist's; the mask marks each pixel brighter than `threshold` (of full scale) with the
// item's class + 1 and every other pixel 0, background: 11 classes.
#pragma once

#include "framework/data/fashion_mnist.h"

namespace tandem::data {

// Fashion-MNIST's pixel histogram falls steeply from 1 to about 10 (of 255) and is flat above:
// the low values are mostly the items' anti-aliased fringe (93% of the pixels at 1..12 and 69% of
// those at 13..25 touch a zero pixel, against 20% of those above 50). 0.1 of full scale (pixels
// >= 26) sits above that fringe, so a mask follows the item's outline rather than its blur, and
// still keeps 91% of the non-zero pixels as the item.
inline constexpr float kFashionMnistMaskThreshold = 0.1f;

class FashionMnistSegmentation : public Dataset {
 public:
  // split: "train" or "test" ("val" is taken as "test", as TensorFiles does without val files).
  FashionMnistSegmentation(const std::string& root, const std::string& split,
                           float threshold = kFashionMnistMaskThreshold);
  int64_t size() const override { return items_.size(); }
  int64_t num_classes() const override { return items_.num_classes() + 1; }
  void load(int64_t index, Example& out) const override;
  std::string name() const override { return "fashion_mnist_segmentation/" + split_; }
  bool segmentation() const override { return true; }

 private:
  FashionMnist items_;
  std::string split_;
  float threshold_;
};

}  // namespace tandem::data
