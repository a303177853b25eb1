// A U-Net assembled from the zoo's blocks (DoubleConv, Down, Up, OutConv: milesial/Pytorch-UNet's
// parts, with their attribute names), three levels deep instead of the zoo's five, trained a few
// steps on a segmentation mask. Odd image sizes work: Up pads (or crops) the upsampled tensor to
// the skip connection's size, as F.pad does in the original.
// Run: ./unet_from_blocks
#include <tandem/tandem.h>

#include <iostream>

#include "example_check.h"

using namespace tandem;
using nn::models::DoubleConv;
using nn::models::Down;
using nn::models::OutConv;
using nn::models::Up;

class SmallUNet : public nn::Module {
 public:
  SmallUNet(int64_t channels, int64_t classes, int64_t width, Generator& gen)
      : Module("SmallUNet") {
    register_module("inc", std::make_shared<DoubleConv>(channels, width, 0, gen));
    register_module("down1", std::make_shared<Down>(width, 2 * width, gen));
    register_module("down2", std::make_shared<Down>(2 * width, 4 * width, gen));
    register_module("up1", std::make_shared<Up>(4 * width, 2 * width, /*bilinear=*/false, gen));
    register_module("up2", std::make_shared<Up>(2 * width, width, /*bilinear=*/false, gen));
    register_module("outc", std::make_shared<OutConv>(width, classes, gen));
  }
  Tensor forward(const Tensor& x) override {
    const Tensor x1 = (*child("inc"))(x);
    const Tensor x2 = (*child("down1"))(x1);
    const Tensor x3 = (*child("down2"))(x2);
    Tensor y = child("up1")->forward_many({x3, x2})[0];  // upsample x3, pad to x2, concatenate
    y = child("up2")->forward_many({y, x1})[0];
    return (*child("outc"))(y);
  }
};

int main() {
  Generator gen(0);
  auto net = std::make_shared<SmallUNet>(/*channels=*/3, /*classes=*/2, /*width=*/8, gen);
  std::cout << *net << "\n" << net->num_parameters() << " parameters\n";

  // 30 x 30 images: 30 -> 15 -> 7 on the way down, 7 -> 14 (padded to 15) -> 30 on the way up.
  const Tensor images = randn({2, 3, 30, 30}, gen);
  const Tensor summed = images.sum({1});
  const Tensor masks = gt(summed, zeros_like(summed)).to(DType::Int64);  // a pixel-wise target
  check(net->forward(images).sizes() == Shape({2, 2, 30, 30}), "one score per class and pixel");

  optim::Adam opt(net->parameters(), {.lr = 1e-2});
  double first = 0, last = 0;
  for (int step = 0; step < 5; ++step) {
    opt.zero_grad();
    Tensor loss = cross_entropy(net->forward(images), masks);  // (N, C, H, W) vs (N, H, W)
    loss.backward();
    opt.step();
    (step == 0 ? first : last) = loss.item();
    std::cout << "step " << step + 1 << ": loss " << loss.item() << "\n";
  }
  check(last < first, "training lowers the loss");
  check(net->state_dict().contains("up1.conv.double_conv.0.weight"), "Pytorch-UNet's key names");
  return 0;
}
