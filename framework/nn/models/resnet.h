// ResNet-18/34/50 with torchvision's structure and state_dict keys (torchvision/models/resnet.py):
// conv1, bn1, relu, maxpool, layer1..layer4 (BasicBlock/Bottleneck with optional downsample),
// avgpool, fc. Options num_classes and in_channels (conv1's input channels).
//
//   auto net = nn::models::resnet18({.num_classes = 10});
//   net->register_module("fc", new_head);   // surgery: forward looks children up by name
#pragma once

#include <memory>

#include "framework/nn/module.h"
#include "framework/tensor/generator.h"

namespace tandem::nn::models {

struct ResNetOptions {
  int64_t num_classes = 1000;
  int64_t in_channels = 3;
  bool zero_init_residual = false;
};

class BasicBlock : public Module {
 public:
  static constexpr int64_t expansion = 1;
  BasicBlock(int64_t inplanes, int64_t planes, int64_t stride, ModulePtr downsample,
             Generator& gen);
  Tensor forward(const Tensor& x) override;
};

class Bottleneck : public Module {
 public:
  static constexpr int64_t expansion = 4;
  Bottleneck(int64_t inplanes, int64_t planes, int64_t stride, ModulePtr downsample,
             Generator& gen);
  Tensor forward(const Tensor& x) override;
};

class ResNet : public Module {
 public:
  // block: "basic" or "bottleneck"; layers: blocks per stage, e.g. {2, 2, 2, 2}.
  ResNet(const std::string& block, const std::vector<int64_t>& layers, const ResNetOptions& options,
         Generator& gen = default_generator());
  Tensor forward(const Tensor& x) override;
  // Everything up to (not including) fc: the pooled, flattened features.
  Tensor features(const Tensor& x);
};

std::shared_ptr<ResNet> resnet18(const ResNetOptions& options = {},
                                 Generator& gen = default_generator());
std::shared_ptr<ResNet> resnet34(const ResNetOptions& options = {},
                                 Generator& gen = default_generator());
std::shared_ptr<ResNet> resnet50(const ResNetOptions& options = {},
                                 Generator& gen = default_generator());

}  // namespace tandem::nn::models
