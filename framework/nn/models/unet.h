// U-Net as in milesial/Pytorch-UNet (unet/unet_parts.py, unet/unet_model.py): DoubleConv, Down,
// Up (bilinear upsampling or ConvTranspose2d), OutConv, with its attribute names (inc, down1..4,
// up1..4, outc; double_conv, maxpool_conv, up, conv), so its checkpoints load. `width` is the
// first stage's channels (64 in the original); smaller widths make test-sized models.
#pragma once

#include <memory>

#include "framework/nn/module.h"
#include "framework/tensor/generator.h"

namespace tandem::nn::models {

struct UNetOptions {
  int64_t n_channels = 3;
  int64_t n_classes = 2;
  bool bilinear = false;
  int64_t width = 64;
};

class DoubleConv : public Module {
 public:
  DoubleConv(int64_t in_channels, int64_t out_channels, int64_t mid_channels, Generator& gen);
  Tensor forward(const Tensor& x) override;
};

class Down : public Module {
 public:
  Down(int64_t in_channels, int64_t out_channels, Generator& gen);
  Tensor forward(const Tensor& x) override;
};

// forward_many({x1, x2}): upsample x1, pad it to x2's size, cat [x2, x1] on channels, DoubleConv.
class Up : public Module {
 public:
  Up(int64_t in_channels, int64_t out_channels, bool bilinear, Generator& gen);
  std::vector<Tensor> forward_many(const std::vector<Tensor>& inputs) override;
};

class OutConv : public Module {
 public:
  OutConv(int64_t in_channels, int64_t out_channels, Generator& gen);
  Tensor forward(const Tensor& x) override;
};

class UNet : public Module {
 public:
  explicit UNet(const UNetOptions& options = {}, Generator& gen = default_generator());
  Tensor forward(const Tensor& x) override;
  UNetOptions options;
};

std::shared_ptr<UNet> unet(const UNetOptions& options = {}, Generator& gen = default_generator());

}  // namespace tandem::nn::models
