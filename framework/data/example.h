// Example: one dataset item on its way from storage, through the transforms, into a batch. A
// dataset fills it, each transform rewrites it in place, and the loader copies it into the batch.
// Its vectors are reused from one example to the next, so a loader thread whose examples keep
// one size allocates nothing in the steady state.
#pragma once

#include <cstdint>
#include <vector>

#include "framework/tensor/tensor.h"  // Shape

namespace tandem::data {

struct Example {
  // The input: planar float values. Images are (C, H, W) with values in [0, 1] (ToTensor's
  // scaling of 8-bit pixels) until a normalize transform shifts them; other data may have any
  // shape (a feature vector is (F)).
  Shape shape;
  std::vector<float> image;
  // Classification: the class index. Unused for segmentation.
  int64_t label = 0;
  // Segmentation: the class index of each pixel, (mask_height, mask_width) row-major; empty for
  // classification. Geometric transforms move the mask with the image.
  int64_t mask_height = 0, mask_width = 0;
  std::vector<int64_t> mask;

  bool has_mask() const { return !mask.empty(); }
  int64_t channels() const { return shape.size() == 3 ? shape[0] : 1; }
  int64_t height() const { return shape.size() == 3 ? shape[1] : 1; }
  int64_t width() const { return shape.size() == 3 ? shape[2] : 1; }
};

}  // namespace tandem::data
