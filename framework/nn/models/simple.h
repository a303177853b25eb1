// Small models: mlp (Flatten, Linear/ReLU stack) and simple_cnn (two conv blocks and a linear
// head, the DESIGN.md example), both plain Sequentials so their keys are "1.weight", ...
#pragma once

#include <memory>
#include <vector>

#include "framework/nn/containers.h"
#include "framework/tensor/generator.h"

namespace tandem::nn::models {

struct MLPOptions {
  int64_t in_features = 784;
  std::vector<int64_t> hidden = {256, 128};
  int64_t num_classes = 10;
  double dropout = 0.0;  // > 0 adds Dropout after each ReLU
};
// Sequential(Flatten, Linear, ReLU, [Dropout], ..., Linear)
std::shared_ptr<Sequential> mlp(const MLPOptions& options = {},
                                Generator& gen = default_generator());

struct SimpleCNNOptions {
  int64_t in_channels = 1;
  int64_t num_classes = 10;
  int64_t image_size = 28;  // square input; must be divisible by 4
};
// Sequential(Conv2d(c,32,3,p=1), BatchNorm2d, ReLU, MaxPool2d(2), Conv2d(32,64,3,p=1),
//            BatchNorm2d, ReLU, MaxPool2d(2), Flatten, Linear(64*(s/4)^2, classes))
std::shared_ptr<Sequential> simple_cnn(const SimpleCNNOptions& options = {},
                                       Generator& gen = default_generator());

}  // namespace tandem::nn::models
