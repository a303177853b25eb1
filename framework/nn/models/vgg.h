// VGG-11 with batch norm, torchvision's structure and keys (torchvision/models/vgg.py):
// features (Conv2d/BatchNorm2d/ReLU/MaxPool2d), avgpool (7x7), classifier.
#pragma once

#include <memory>

#include "framework/nn/module.h"
#include "framework/tensor/generator.h"

namespace tandem::nn::models {

struct VGGOptions {
  int64_t num_classes = 1000;
  int64_t in_channels = 3;
  double dropout = 0.5;
  // The classifier's two hidden widths (4096 in torchvision); smaller ones make test-sized models
  // with the same keys (the 4096-wide layers hold 120M parameters).
  int64_t classifier_width = 4096;
};

class VGG : public Module {
 public:
  // cfg: channels per conv, 0 = MaxPool2d (torchvision's "M").
  VGG(const std::vector<int64_t>& cfg, bool batch_norm, const VGGOptions& options,
      Generator& gen = default_generator());
  Tensor forward(const Tensor& x) override;
};

std::shared_ptr<VGG> vgg11_bn(const VGGOptions& options = {}, Generator& gen = default_generator());

}  // namespace tandem::nn::models
