// Dataset: indexed examples of a fixed shape with an int64 class label. Images are kept in
// their compact stored form (e.g. uint8) and written as float into a batch buffer on request,
// so a loader fills a whole batch with no per-example allocation.
#pragma once

#include <cstdint>
#include <string>

#include "framework/tensor/tensor.h"

namespace tandem::data {

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual int64_t size() const = 0;
  virtual Shape example_shape() const = 0;  // e.g. {1, 28, 28}
  virtual int64_t num_classes() const = 0;
  // Writes example `index` as floats in [0, 1] (before normalisation) to `out` and returns its label.
  virtual int64_t get(int64_t index, float* out) const = 0;
  virtual std::string name() const = 0;
};

}  // namespace tandem::data
