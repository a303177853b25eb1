// Saving and loading weights, as PyTorch users do with torch.save(model.state_dict(), path) and
// model.load_state_dict(torch.load(path)): the files are PyTorch's (.pt) or safetensors, and
// PyTorch reads what tandem writes.
// Run: ./save_load_state_dict
#include <tandem/tandem.h>

#include <iostream>

#include "example_check.h"

using namespace tandem;

int main() {
  std::cout << "tandem " << library_version() << " (headers " << TANDEM_VERSION << ")\n";
  check(std::string(library_version()) == TANDEM_VERSION, "library and headers are one version");

  Generator gen(0);
  auto net = nn::models::simple_cnn({.in_channels = 1, .num_classes = 10, .image_size = 28}, gen);
  std::cout << *net << "\n";  // print(model)

  net->eval();
  const Tensor x = randn({4, 1, 28, 28}, gen);
  const Tensor before = (*net)(x);

  for (const std::string path : {"simple_cnn.pt", "simple_cnn.safetensors"}) {
    io::save(net->state_dict(), path);  // torch.save(model.state_dict(), path)

    Generator other(1);
    auto fresh = nn::models::simple_cnn({}, other);
    fresh->load_state_dict(io::load_state_dict(path));  // model.load_state_dict(torch.load(path))
    fresh->eval();
    check(equal((*fresh)(x), before), path + ": the loaded model computes what the saved one did");
    std::cout << path << ": " << fresh->state_dict().size() << " tensors, outputs equal\n";
  }
  // The keys are those of the same nn.Sequential in PyTorch.
  check(net->state_dict().keys().front() == "0.weight", "PyTorch's key names");
  for (const auto& [key, tensor] : net->state_dict())
    std::cout << "  " << key << " " << shape_str(tensor.sizes()) << "\n";
  return 0;
}
