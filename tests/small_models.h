// Small seeded models and data shared by the data-parallel suites (DistributedDataParallel over
// ranks, DataParallel over replicas): each trains them against one model on the full batch.
#pragma once

#include <cstdint>
#include <vector>

#include "framework/nn/nn.h"
#include "framework/tensor/factories.h"

namespace tandem::testing {

// 6 -> 16 -> tanh -> 3.
inline nn::ModulePtr small_mlp(uint64_t seed) {
  Generator gen(seed);
  auto seq = std::make_shared<nn::Sequential>();
  seq->push_back(std::make_shared<nn::Linear>(6, 16, true, gen));
  seq->push_back(std::make_shared<nn::Tanh>());
  seq->push_back(std::make_shared<nn::Linear>(16, 3, true, gen));
  return seq;
}

// A CNN without BatchNorm on 1x8x8 images: conv -> relu -> maxpool -> conv -> relu -> linear.
inline nn::ModulePtr small_cnn(uint64_t seed) {
  Generator gen(seed);
  auto seq = std::make_shared<nn::Sequential>();
  seq->push_back(std::make_shared<nn::Conv2d>(1, 4, 3, 1, 1, true, gen));
  seq->push_back(std::make_shared<nn::ReLU>());
  seq->push_back(std::make_shared<nn::MaxPool2d>(2));
  seq->push_back(std::make_shared<nn::Conv2d>(4, 6, 3, 1, 0, true, gen));
  seq->push_back(std::make_shared<nn::ReLU>());
  seq->push_back(std::make_shared<nn::Flatten>());
  seq->push_back(std::make_shared<nn::Linear>(6 * 2 * 2, 3, true, gen));
  return seq;
}

// n class labels in [0, 3), drawn from gen.
inline Tensor random_targets(int64_t n, Generator& gen) {
  std::vector<int64_t> y(static_cast<size_t>(n));
  for (auto& v : y) v = int64_t(gen.random() % 3);
  return from_vector(y, {n});
}

}  // namespace tandem::testing
