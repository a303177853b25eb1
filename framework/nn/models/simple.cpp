// mlp and simple_cnn.
#include "framework/nn/models/simple.h"

#include "framework/nn/nn.h"

namespace tandem::nn::models {

std::shared_ptr<Sequential> mlp(const MLPOptions& o, Generator& gen) {
  auto seq = std::make_shared<Sequential>();
  seq->push_back(std::make_shared<Flatten>());
  int64_t in = o.in_features;
  for (int64_t h : o.hidden) {
    seq->push_back(std::make_shared<Linear>(in, h, true, gen));
    seq->push_back(std::make_shared<ReLU>());
    if (o.dropout > 0) seq->push_back(std::make_shared<Dropout>(o.dropout));
    in = h;
  }
  seq->push_back(std::make_shared<Linear>(in, o.num_classes, true, gen));
  return seq;
}

std::shared_ptr<Sequential> simple_cnn(const SimpleCNNOptions& o, Generator& gen) {
  TANDEM_CHECK(o.image_size % 4 == 0, "simple_cnn: image_size must be divisible by 4, got ",
               o.image_size);
  int64_t s = o.image_size / 4;
  return std::make_shared<Sequential>(std::vector<ModulePtr>{
      std::make_shared<Conv2d>(o.in_channels, 32, 3, 1, 1, true, gen),
      std::make_shared<BatchNorm2d>(32), std::make_shared<ReLU>(), std::make_shared<MaxPool2d>(2),
      std::make_shared<Conv2d>(32, 64, 3, 1, 1, true, gen), std::make_shared<BatchNorm2d>(64),
      std::make_shared<ReLU>(), std::make_shared<MaxPool2d>(2), std::make_shared<Flatten>(),
      std::make_shared<Linear>(64 * s * s, o.num_classes, true, gen)});
}

}  // namespace tandem::nn::models
