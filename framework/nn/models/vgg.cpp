// VGG implementation (torchvision's make_layers and VGG.__init__ order and init).
#include "framework/nn/models/vgg.h"

#include "framework/nn/nn.h"

namespace tandem::nn::models {

VGG::VGG(const std::vector<int64_t>& cfg, bool batch_norm, const VGGOptions& o, Generator& gen)
    : Module("VGG") {
  auto features = std::make_shared<Sequential>();
  int64_t in = o.in_channels;
  for (int64_t v : cfg) {
    if (v == 0) {
      features->push_back(std::make_shared<MaxPool2d>(MaxPool2dOptions(2, Size2(2))));
      continue;
    }
    features->push_back(std::make_shared<Conv2d>(in, v, 3, 1, 1, true, gen));
    if (batch_norm) features->push_back(std::make_shared<BatchNorm2d>(v));
    features->push_back(std::make_shared<ReLU>(true));
    in = v;
  }
  register_module("features", features);
  register_module("avgpool", std::make_shared<AdaptiveAvgPool2d>(Size2(7, 7)));
  register_module("classifier",
                  std::make_shared<Sequential>(std::vector<ModulePtr>{
                      std::make_shared<Linear>(512 * 7 * 7, o.classifier_width, true, gen),
                      std::make_shared<ReLU>(true), std::make_shared<Dropout>(o.dropout),
                      std::make_shared<Linear>(o.classifier_width, o.classifier_width, true, gen),
                      std::make_shared<ReLU>(true), std::make_shared<Dropout>(o.dropout),
                      std::make_shared<Linear>(o.classifier_width, o.num_classes, true, gen)}));
  for (auto& m : modules()) {
    if (auto conv = std::dynamic_pointer_cast<Conv2d>(m)) {
      init::kaiming_normal_(conv->weight, 0.0, "fan_out", "relu", gen);
      init::zeros_(conv->bias);
    } else if (auto bn = std::dynamic_pointer_cast<BatchNormBase>(m)) {
      init::ones_(bn->weight);
      init::zeros_(bn->bias);
    } else if (auto fc = std::dynamic_pointer_cast<Linear>(m)) {
      init::normal_(fc->weight, 0.0, 0.01, gen);
      init::zeros_(fc->bias);
    }
  }
}

Tensor VGG::forward(const Tensor& x) {
  Tensor y = (*child("avgpool"))((*child("features"))(x)).flatten(1);
  return (*child("classifier"))(y);
}

std::shared_ptr<VGG> vgg11_bn(const VGGOptions& o, Generator& gen) {
  return std::make_shared<VGG>(
      std::vector<int64_t>{64, 0, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0}, true, o, gen);
}

}  // namespace tandem::nn::models
