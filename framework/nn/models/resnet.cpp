// ResNet implementation, registration order exactly as torchvision (it fixes the key order).
#include "framework/nn/models/resnet.h"

#include "framework/nn/nn.h"

namespace tandem::nn::models {

namespace {
std::shared_ptr<Conv2d> conv3x3(int64_t in, int64_t out, int64_t stride, Generator& gen) {
  return std::make_shared<Conv2d>(in, out, 3, stride, 1, false, gen);
}
std::shared_ptr<Conv2d> conv1x1(int64_t in, int64_t out, int64_t stride, Generator& gen) {
  return std::make_shared<Conv2d>(in, out, 1, stride, 0, false, gen);
}
}  // namespace

BasicBlock::BasicBlock(int64_t inplanes, int64_t planes, int64_t stride, ModulePtr downsample,
                       Generator& gen)
    : Module("BasicBlock") {
  register_module("conv1", conv3x3(inplanes, planes, stride, gen));
  register_module("bn1", std::make_shared<BatchNorm2d>(planes));
  register_module("relu", std::make_shared<ReLU>(true));
  register_module("conv2", conv3x3(planes, planes, 1, gen));
  register_module("bn2", std::make_shared<BatchNorm2d>(planes));
  if (downsample) register_module("downsample", downsample);
}

Tensor BasicBlock::forward(const Tensor& x) {
  auto& relu = *child("relu");
  Tensor out = relu((*child("bn1"))((*child("conv1"))(x)));
  out = (*child("bn2"))((*child("conv2"))(out));
  Tensor identity = local_children().contains("downsample") ? (*child("downsample"))(x) : x;
  return relu(out + identity);
}

Bottleneck::Bottleneck(int64_t inplanes, int64_t planes, int64_t stride, ModulePtr downsample,
                       Generator& gen)
    : Module("Bottleneck") {
  int64_t width = planes;  // base_width 64, groups 1
  register_module("conv1", conv1x1(inplanes, width, 1, gen));
  register_module("bn1", std::make_shared<BatchNorm2d>(width));
  register_module("conv2", conv3x3(width, width, stride, gen));
  register_module("bn2", std::make_shared<BatchNorm2d>(width));
  register_module("conv3", conv1x1(width, planes * expansion, 1, gen));
  register_module("bn3", std::make_shared<BatchNorm2d>(planes * expansion));
  register_module("relu", std::make_shared<ReLU>(true));
  if (downsample) register_module("downsample", downsample);
}

Tensor Bottleneck::forward(const Tensor& x) {
  auto& relu = *child("relu");
  Tensor out = relu((*child("bn1"))((*child("conv1"))(x)));
  out = relu((*child("bn2"))((*child("conv2"))(out)));
  out = (*child("bn3"))((*child("conv3"))(out));
  Tensor identity = local_children().contains("downsample") ? (*child("downsample"))(x) : x;
  return relu(out + identity);
}

ResNet::ResNet(const std::string& block, const std::vector<int64_t>& layers, const ResNetOptions& o,
               Generator& gen)
    : Module("ResNet") {
  TANDEM_CHECK(block == "basic" || block == "bottleneck", "unknown ResNet block '", block, "'");
  TANDEM_CHECK(layers.size() == 4, "ResNet needs 4 stages, got ", layers.size());
  const int64_t expansion = block == "basic" ? BasicBlock::expansion : Bottleneck::expansion;
  int64_t inplanes = 64;
  register_module("conv1", std::make_shared<Conv2d>(o.in_channels, inplanes, 7, 2, 3, false, gen));
  register_module("bn1", std::make_shared<BatchNorm2d>(inplanes));
  register_module("relu", std::make_shared<ReLU>(true));
  register_module("maxpool", std::make_shared<MaxPool2d>(MaxPool2dOptions(3, Size2(2), 1)));
  const int64_t planes_per_stage[4] = {64, 128, 256, 512};
  for (int s = 0; s < 4; ++s) {
    int64_t planes = planes_per_stage[s], stride = s == 0 ? 1 : 2;
    auto stage = std::make_shared<Sequential>();
    for (int64_t b = 0; b < layers[size_t(s)]; ++b) {
      ModulePtr downsample;
      if (b == 0 && (stride != 1 || inplanes != planes * expansion)) {
        downsample = std::make_shared<Sequential>(
            std::vector<ModulePtr>{conv1x1(inplanes, planes * expansion, stride, gen),
                                   std::make_shared<BatchNorm2d>(planes * expansion)});
      }
      int64_t st = b == 0 ? stride : 1;
      if (block == "basic")
        stage->push_back(std::make_shared<BasicBlock>(inplanes, planes, st, downsample, gen));
      else
        stage->push_back(std::make_shared<Bottleneck>(inplanes, planes, st, downsample, gen));
      inplanes = planes * expansion;
    }
    register_module("layer" + std::to_string(s + 1), stage);
  }
  register_module("avgpool", std::make_shared<AdaptiveAvgPool2d>(Size2(1, 1)));
  register_module("fc", std::make_shared<Linear>(512 * expansion, o.num_classes, true, gen));

  for (auto& m : modules()) {
    if (auto conv = std::dynamic_pointer_cast<Conv2d>(m)) {
      init::kaiming_normal_(conv->weight, 0.0, "fan_out", "relu", gen);
    } else if (auto bn = std::dynamic_pointer_cast<BatchNormBase>(m)) {
      init::ones_(bn->weight);
      init::zeros_(bn->bias);
    }
  }
  if (o.zero_init_residual) {
    for (auto& m : modules()) {
      if (m->name() == "Bottleneck") init::zeros_(m->child_as<BatchNorm2d>("bn3")->weight);
      if (m->name() == "BasicBlock") init::zeros_(m->child_as<BatchNorm2d>("bn2")->weight);
    }
  }
}

Tensor ResNet::features(const Tensor& x) {
  Tensor y = (*child("maxpool"))((*child("relu"))((*child("bn1"))((*child("conv1"))(x))));
  for (const char* stage : {"layer1", "layer2", "layer3", "layer4"}) y = (*child(stage))(y);
  return (*child("avgpool"))(y).flatten(1);
}

Tensor ResNet::forward(const Tensor& x) { return (*child("fc"))(features(x)); }

std::shared_ptr<ResNet> resnet18(const ResNetOptions& o, Generator& gen) {
  return std::make_shared<ResNet>("basic", std::vector<int64_t>{2, 2, 2, 2}, o, gen);
}
std::shared_ptr<ResNet> resnet34(const ResNetOptions& o, Generator& gen) {
  return std::make_shared<ResNet>("basic", std::vector<int64_t>{3, 4, 6, 3}, o, gen);
}
std::shared_ptr<ResNet> resnet50(const ResNetOptions& o, Generator& gen) {
  return std::make_shared<ResNet>("bottleneck", std::vector<int64_t>{3, 4, 6, 3}, o, gen);
}

}  // namespace tandem::nn::models
