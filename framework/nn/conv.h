// Conv2d and ConvTranspose2d, as torch/nn/modules/conv.py (_ConvNd): options, default init,
// forward through ops/conv.h, and PyTorch's extra_repr.
//
//   auto c = std::make_shared<nn::Conv2d>(nn::Conv2dOptions{3, 16, 3}.with_padding(1));
//   // Conv2d(3, 16, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
#pragma once

#include <array>
#include <string>

#include "framework/nn/module.h"
#include "framework/nn/size2.h"
#include "framework/tensor/generator.h"

namespace tandem::nn {

struct Conv2dOptions {
  Conv2dOptions(int64_t in_channels = 0, int64_t out_channels = 0, Size2 kernel_size = 1)
      : in_channels(in_channels), out_channels(out_channels), kernel_size(kernel_size) {}
  int64_t in_channels = 0;
  int64_t out_channels = 0;
  Size2 kernel_size = 1;
  Size2 stride = 1;
  Size2 padding = 0;
  std::string padding_str;  // "same" / "valid" when padding was given as a string
  Size2 dilation = 1;
  int64_t groups = 1;
  bool bias = true;
  std::string padding_mode = "zeros";
  Size2 output_padding = 0;  // ConvTranspose2d only

  Conv2dOptions with_stride(Size2 s) const {
    auto o = *this;
    o.stride = s;
    return o;
  }
  Conv2dOptions with_padding(Size2 p) const {
    auto o = *this;
    o.padding = p;
    return o;
  }
  Conv2dOptions with_padding(const std::string& p) const {
    auto o = *this;
    o.padding_str = p;
    return o;
  }
  Conv2dOptions with_dilation(Size2 d) const {
    auto o = *this;
    o.dilation = d;
    return o;
  }
  Conv2dOptions with_groups(int64_t g) const {
    auto o = *this;
    o.groups = g;
    return o;
  }
  Conv2dOptions with_bias(bool b) const {
    auto o = *this;
    o.bias = b;
    return o;
  }
  Conv2dOptions with_padding_mode(const std::string& m) const {
    auto o = *this;
    o.padding_mode = m;
    return o;
  }
  Conv2dOptions with_output_padding(Size2 p) const {
    auto o = *this;
    o.output_padding = p;
    return o;
  }
};

class ConvBase : public Module {
 public:
  void reset_parameters(Generator& gen = default_generator());
  std::string extra_repr() const override;

  Conv2dOptions options;
  Tensor weight;
  Tensor bias;

 protected:
  ConvBase(const char* name, const Conv2dOptions& options, bool transposed, Generator& gen);
  // The zeros or padding_mode pad around the input as F.pad takes it: left, right, top, bottom.
  // An array, not a vector: forward runs every step and must not allocate.
  std::array<int64_t, 4> padding_amounts() const;
  bool transposed_;
};

class Conv2d : public ConvBase {
 public:
  explicit Conv2d(const Conv2dOptions& options, Generator& gen = default_generator())
      : ConvBase("Conv2d", options, false, gen) {}
  Conv2d(int64_t in_channels, int64_t out_channels, Size2 kernel_size, Size2 stride = 1,
         Size2 padding = 0, bool bias = true, Generator& gen = default_generator());
  Tensor forward(const Tensor& x) override;
};

class ConvTranspose2d : public ConvBase {
 public:
  explicit ConvTranspose2d(const Conv2dOptions& options, Generator& gen = default_generator())
      : ConvBase("ConvTranspose2d", options, true, gen) {}
  Tensor forward(const Tensor& x) override;
};

}  // namespace tandem::nn
