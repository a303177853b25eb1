// A synthetic classification dataset for tests and benchmarks: each class has a fixed random
// template image and examples are template + noise, both drawn from a seeded Generator, so the
// data is learnable, reproducible and needs no files.
#pragma once

#include <vector>

#include "framework/data/dataset.h"

namespace tandem::data {

class SyntheticDataset : public Dataset {
 public:
  // `first_index` offsets the examples: a test split uses the same class templates as the
  // training split (same seed) with examples the training split does not have.
  SyntheticDataset(int64_t size, Shape example_shape, int64_t num_classes, uint64_t seed,
                   double noise = 0.3, int64_t first_index = 0);
  int64_t size() const override { return size_; }
  int64_t num_classes() const override { return num_classes_; }
  void load(int64_t index, Example& out) const override;
  std::string name() const override { return "synthetic"; }

 private:
  int64_t size_, num_classes_, numel_;
  Shape shape_;
  uint64_t seed_;
  double noise_;
  int64_t first_index_;
  std::vector<float> templates_;  // num_classes x numel, values in [0, 1]
};

}  // namespace tandem::data
