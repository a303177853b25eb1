// Model surgery on a pretrained-style ResNet-18, the way PyTorch users do it:
//   1. replace `fc` by a Sequential of named layers (fc1, relu1, dropout1, fc2, output): the
//      state_dict keys follow the new structure ("fc.fc1.weight", ...);
//   2. wrap the network so it takes an extra input, concatenated to the pooled features before a
//      new head;
//   3. wrap it so forward returns extra outputs (logits and features).
// Run: ./model_surgery
#include <tandem/tandem.h>

#include <iostream>

using namespace tandem;

// (image, extra) -> logits: the extra input joins the 512 pooled features before the head.
struct WithExtraInput : nn::Module {
  WithExtraInput(std::shared_ptr<nn::models::ResNet> backbone, int64_t extra, int64_t classes)
      : Module("WithExtraInput") {
    register_module("backbone", std::move(backbone));
    register_module("head", std::make_shared<nn::Linear>(512 + extra, classes));
  }
  std::vector<Tensor> forward_many(const std::vector<Tensor>& in) override {
    TANDEM_CHECK(in.size() == 2, "WithExtraInput takes (image, extra)");
    Tensor features = child_as<nn::models::ResNet>("backbone")->features(in[0]);
    return {(*child("head"))(cat({features, in[1]}, 1))};
  }
};

// image -> (logits, features)
struct WithFeatures : nn::Module {
  explicit WithFeatures(std::shared_ptr<nn::models::ResNet> net) : Module("WithFeatures") {
    register_module("net", std::move(net));
  }
  std::vector<Tensor> forward_many(const std::vector<Tensor>& in) override {
    auto net = child_as<nn::models::ResNet>("net");
    Tensor features = net->features(in.at(0));
    return {(*net->child("fc"))(features), features};
  }
};

int main() {
  auto net = nn::models::resnet18();  // weights would come from load_state_dict(checkpoint)

  // 1. Replace the classifier; register_module on an existing name replaces it in place.
  net->register_module("fc", std::make_shared<nn::Sequential>(nn::NamedModules{
                                 {"fc1", std::make_shared<nn::Linear>(512, 256)},
                                 {"relu1", std::make_shared<nn::ReLU>()},
                                 {"dropout1", std::make_shared<nn::Dropout>(0.2)},
                                 {"fc2", std::make_shared<nn::Linear>(256, 10)},
                                 {"output", std::make_shared<nn::LogSoftmax>(1)}}));
  std::cout << "(fc): " << nn::addindent(net->child("fc")->repr(), 2) << "\n";
  std::cout << "last keys:";
  auto keys = net->state_dict().keys();
  for (size_t i = keys.size() - 4; i < keys.size(); ++i) std::cout << " " << keys[i];
  std::cout << "\n";

  // 2. and 3. The wrappers add their own prefixes: "backbone.conv1.weight", "net.fc.fc1.bias".
  auto extra = std::make_shared<WithExtraInput>(net, 4, 3);
  auto both = std::make_shared<WithFeatures>(net);
  std::cout << "extra-input model: " << extra->state_dict().size() << " keys, last "
            << extra->state_dict().keys().back() << "\n";
  try {
    net->eval();
    Tensor image = randn({2, 3, 32, 32}), side = randn({2, 4});
    Tensor logits = extra->forward_many({image, side})[0];
    auto outs = both->forward_many({image});
    std::cout << "logits " << shape_str(logits.sizes()) << ", (" << shape_str(outs[0].sizes())
              << ", " << shape_str(outs[1].sizes()) << ")\n";
  } catch (const Error& e) {
    std::cout << "forward skipped: " << e.what() << "\n";
  }
  return 0;
}
