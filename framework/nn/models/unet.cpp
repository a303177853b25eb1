// U-Net implementation (milesial/Pytorch-UNet), registration order as the original.
#include "framework/nn/models/unet.h"

#include "framework/nn/nn.h"
#include "framework/ops/pad.h"
#include "framework/ops/shape_ops.h"
#include "framework/tensor/factories.h"

namespace tandem::nn::models {

namespace {
// Python's a // 2 (floor division), as Pytorch-UNet computes its pads.
int64_t floor_half(int64_t a) { return a >= 0 ? a / 2 : -((-a + 1) / 2); }
}  // namespace

DoubleConv::DoubleConv(int64_t in, int64_t out, int64_t mid, Generator& gen)
    : Module("DoubleConv") {
  if (mid <= 0) mid = out;
  register_module("double_conv",
                  std::make_shared<Sequential>(std::vector<ModulePtr>{
                      std::make_shared<Conv2d>(in, mid, 3, 1, 1, false, gen),
                      std::make_shared<BatchNorm2d>(mid), std::make_shared<ReLU>(true),
                      std::make_shared<Conv2d>(mid, out, 3, 1, 1, false, gen),
                      std::make_shared<BatchNorm2d>(out), std::make_shared<ReLU>(true)}));
}

Tensor DoubleConv::forward(const Tensor& x) { return (*child("double_conv"))(x); }

Down::Down(int64_t in, int64_t out, Generator& gen) : Module("Down") {
  register_module("maxpool_conv", std::make_shared<Sequential>(std::vector<ModulePtr>{
                                      std::make_shared<MaxPool2d>(2),
                                      std::make_shared<DoubleConv>(in, out, 0, gen)}));
}

Tensor Down::forward(const Tensor& x) { return (*child("maxpool_conv"))(x); }

Up::Up(int64_t in, int64_t out, bool bilinear, Generator& gen) : Module("Up") {
  if (bilinear) {
    register_module("up", std::make_shared<Upsample>(
                              UpsampleOptions{std::nullopt, 2.0, "bilinear", true, std::nullopt}));
    register_module("conv", std::make_shared<DoubleConv>(in, out, in / 2, gen));
  } else {
    register_module(
        "up", std::make_shared<ConvTranspose2d>(Conv2dOptions(in, in / 2, 2).with_stride(2), gen));
    register_module("conv", std::make_shared<DoubleConv>(in, out, 0, gen));
  }
}

std::vector<Tensor> Up::forward_many(const std::vector<Tensor>& inputs) {
  TANDEM_CHECK(inputs.size() == 2, "Up takes (x1, x2), got ", inputs.size(), " tensors");
  Tensor x1 = (*child("up"))(inputs[0]);
  const Tensor& x2 = inputs[1];
  int64_t dy = x2.size(2) - x1.size(2), dx = x2.size(3) - x1.size(3);
  // F.pad(x1, [diffX // 2, diffX - diffX // 2, diffY // 2, diffY - diffY // 2]): zeros around
  // x1, or a crop when the skip connection is the smaller one.
  x1 = pad(x1, {floor_half(dx), dx - floor_half(dx), floor_half(dy), dy - floor_half(dy)});
  return {(*child("conv"))(cat({x2, x1}, 1))};
}

OutConv::OutConv(int64_t in, int64_t out, Generator& gen) : Module("OutConv") {
  register_module("conv", std::make_shared<Conv2d>(in, out, 1, 1, 0, true, gen));
}

Tensor OutConv::forward(const Tensor& x) { return (*child("conv"))(x); }

UNet::UNet(const UNetOptions& o, Generator& gen) : Module("UNet"), options(o) {
  int64_t w = o.width, factor = o.bilinear ? 2 : 1;
  register_module("inc", std::make_shared<DoubleConv>(o.n_channels, w, 0, gen));
  register_module("down1", std::make_shared<Down>(w, 2 * w, gen));
  register_module("down2", std::make_shared<Down>(2 * w, 4 * w, gen));
  register_module("down3", std::make_shared<Down>(4 * w, 8 * w, gen));
  register_module("down4", std::make_shared<Down>(8 * w, 16 * w / factor, gen));
  register_module("up1", std::make_shared<Up>(16 * w, 8 * w / factor, o.bilinear, gen));
  register_module("up2", std::make_shared<Up>(8 * w, 4 * w / factor, o.bilinear, gen));
  register_module("up3", std::make_shared<Up>(4 * w, 2 * w / factor, o.bilinear, gen));
  register_module("up4", std::make_shared<Up>(2 * w, w, o.bilinear, gen));
  register_module("outc", std::make_shared<OutConv>(w, o.n_classes, gen));
}

Tensor UNet::forward(const Tensor& x) {
  Tensor x1 = (*child("inc"))(x);
  Tensor x2 = (*child("down1"))(x1);
  Tensor x3 = (*child("down2"))(x2);
  Tensor x4 = (*child("down3"))(x3);
  Tensor x5 = (*child("down4"))(x4);
  Tensor y = child("up1")->forward_many({x5, x4})[0];
  y = child("up2")->forward_many({y, x3})[0];
  y = child("up3")->forward_many({y, x2})[0];
  y = child("up4")->forward_many({y, x1})[0];
  return (*child("outc"))(y);
}

std::shared_ptr<UNet> unet(const UNetOptions& o, Generator& gen) {
  return std::make_shared<UNet>(o, gen);
}

}  // namespace tandem::nn::models
