// Synthetic examples: label = index % classes; pixels = clamp(template + noise, 0, 1), with the
// noise drawn from a generator seeded by (seed, index) so any example can be made on its own.
#include "framework/data/synthetic.h"

#include <algorithm>

#include "framework/tensor/generator.h"

namespace tandem::data {

SyntheticDataset::SyntheticDataset(int64_t size, Shape example_shape, int64_t num_classes,
                                   uint64_t seed, double noise, int64_t first_index)
    : size_(size),
      num_classes_(num_classes),
      numel_(shape_numel(example_shape)),
      shape_(std::move(example_shape)),
      seed_(seed),
      noise_(noise),
      first_index_(first_index) {
  TANDEM_CHECK(size > 0 && num_classes > 0 && numel_ > 0,
               "synthetic dataset: size, classes and shape must be positive");
  Generator gen(seed);
  templates_.resize(size_t(num_classes_ * numel_));
  for (auto& v : templates_) v = gen.uniform_float();
}

void SyntheticDataset::load(int64_t local_index, Example& ex) const {
  const int64_t index = local_index + first_index_;
  const int64_t label = index % num_classes_;
  Generator gen(seed_ * 1000003ULL + uint64_t(index) + 1);
  const float* t = templates_.data() + label * numel_;
  ex.shape = shape_;
  ex.image.resize(size_t(numel_));
  for (int64_t i = 0; i < numel_; ++i) {
    const float v = t[i] + float(noise_) * (2.0f * gen.uniform_float() - 1.0f);
    ex.image[size_t(i)] = std::clamp(v, 0.0f, 1.0f);
  }
  ex.label = label;
  ex.mask.clear();
}

}  // namespace tandem::data
