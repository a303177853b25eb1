// Fine-tuning ResNet-50 with a new head, as with torchvision: load the backbone's weights,
// replace `fc` by a head for 10 classes, freeze the backbone and train only the head.
//   model = torchvision.models.resnet50(); model.load_state_dict(...)
//   model.fc = nn.Sequential(nn.Linear(2048, 256), nn.ReLU(), nn.Dropout(0.2), nn.Linear(256, 10))
// Run: ./resnet50_new_head
#include <tandem/tandem.h>

#include <iostream>

#include "example_check.h"

using namespace tandem;

int main() {
  Generator gen(0);
  auto model = nn::models::resnet50({}, gen);  // 1000 classes, as torchvision's
  // Pretrained weights would come from a file here, keys as torchvision's:
  //   model->load_state_dict(io::load_state_dict("resnet50.pth"));
  const int64_t backbone_tensors = int64_t(model->state_dict().size()) - 2;  // all but fc

  // The new head: register_module on an existing name replaces the child in place, and the
  // model's forward uses it (children are looked up by name).
  model->register_module("fc", std::make_shared<nn::Sequential>(nn::NamedModules{
                                   {"0", std::make_shared<nn::Linear>(2048, 256, true, gen)},
                                   {"1", std::make_shared<nn::ReLU>()},
                                   {"2", std::make_shared<nn::Dropout>(0.2)},
                                   {"3", std::make_shared<nn::Linear>(256, 10, true, gen)}}));
  std::cout << "(fc): " << *model->child("fc") << "\n";
  check(model->state_dict().keys().back() == "fc.3.bias", "the head's keys follow its structure");

  // Freeze the backbone: only the head's parameters train.
  for (auto& [name, p] : model->named_parameters())
    if (name.rfind("fc.", 0) != 0) p.set_requires_grad(false);
  optim::SGD opt(model->child("fc")->parameters(), {.lr = 0.01, .momentum = 0.9});
  const Tensor before = model->state_dict().at("layer4.2.conv3.weight").clone();

  const Tensor images = randn({2, 3, 64, 64}, gen);
  const Tensor labels = from_vector(std::vector<int64_t>{3, 7}, {2});
  model->train();
  opt.zero_grad();
  Tensor loss = cross_entropy((*model)(images), labels);
  loss.backward();
  opt.step();
  std::cout << "one step on the head: loss " << loss.item() << "\n";
  check(loss.item() > 0, "a loss");
  check(equal(model->state_dict().at("layer4.2.conv3.weight"), before), "the backbone is frozen");
  check(!model->get_parameter("layer4.2.conv3.weight").grad().defined(), "and gets no gradient");

  model->eval();
  check((*model)(images).sizes() == Shape({2, 10}), "10 classes");
  std::cout << backbone_tensors << " backbone tensors kept, "
            << model->child("fc")->num_parameters() << " head parameters trained\n";
  return 0;
}
