// Conv2d / ConvTranspose2d implementation.
#include "framework/nn/conv.h"

#include "framework/nn/init.h"
#include "framework/ops/conv.h"
#include "framework/ops/pad.h"
#include "framework/tensor/factories.h"

namespace tandem::nn {

ConvBase::ConvBase(const char* name, const Conv2dOptions& o, bool transposed, Generator& gen)
    : Module(name), options(o), transposed_(transposed) {
  TANDEM_CHECK(o.groups > 0, "groups must be a positive integer");
  TANDEM_CHECK(o.in_channels % o.groups == 0, "in_channels must be divisible by groups");
  TANDEM_CHECK(o.out_channels % o.groups == 0, "out_channels must be divisible by groups");
  const std::string& m = o.padding_mode;
  TANDEM_CHECK(m == "zeros" || m == "circular" || m == "replicate" || m == "reflect",
               "padding_mode must be one of {'zeros', 'circular', 'replicate', 'reflect'}, but got "
               "padding_mode='",
               m, "'");
  TANDEM_CHECK(!transposed || m == "zeros",
               "Only \"zeros\" padding mode is supported for ConvTranspose2d");
  TANDEM_CHECK(!transposed || o.padding_str.empty(), "padding='", o.padding_str,
               "' is not supported for ConvTranspose2d: give its padding as numbers");
  if (!o.padding_str.empty()) {
    TANDEM_CHECK(o.padding_str == "same" || o.padding_str == "valid", "Invalid padding string '",
                 o.padding_str, "', should be one of {'valid', 'same'}");
    TANDEM_CHECK(!(o.padding_str == "same" && (o.stride.h != 1 || o.stride.w != 1)),
                 "padding='same' is not supported for strided convolutions");
  }
  Shape wshape =
      transposed
          ? Shape{o.in_channels, o.out_channels / o.groups, o.kernel_size.h, o.kernel_size.w}
          : Shape{o.out_channels, o.in_channels / o.groups, o.kernel_size.h, o.kernel_size.w};
  weight = register_parameter("weight", empty(wshape));
  bias = register_parameter("bias", o.bias ? empty({o.out_channels}) : Tensor());
  reset_parameters(gen);
}

void ConvBase::reset_parameters(Generator& gen) {
  init::reset_linear_like(weight, bias, false, gen);
}

std::array<int64_t, 4> ConvBase::padding_amounts() const {
  const auto& o = options;
  if (o.padding_str == "valid") return {0, 0, 0, 0};
  if (o.padding_str == "same") {
    // An odd total puts the extra row (column) after, as PyTorch's _reversed_padding_repeated_twice
    // and F.conv2d(padding='same').
    const int64_t th = o.dilation.h * (o.kernel_size.h - 1);
    const int64_t tw = o.dilation.w * (o.kernel_size.w - 1);
    return {tw / 2, tw - tw / 2, th / 2, th - th / 2};
  }
  return {o.padding.w, o.padding.w, o.padding.h, o.padding.h};
}

std::string ConvBase::extra_repr() const {
  const auto& o = options;
  std::string s = std::to_string(o.in_channels) + ", " + std::to_string(o.out_channels) +
                  ", kernel_size=" + o.kernel_size.tuple_str() + ", stride=" + o.stride.tuple_str();
  if (!o.padding_str.empty())
    s += ", padding=" + o.padding_str;
  else if (!(o.padding == Size2(0)))
    s += ", padding=" + o.padding.tuple_str();
  if (!(o.dilation == Size2(1))) s += ", dilation=" + o.dilation.tuple_str();
  if (transposed_ && !(o.output_padding == Size2(0)))
    s += ", output_padding=" + o.output_padding.tuple_str();
  if (o.groups != 1) s += ", groups=" + std::to_string(o.groups);
  if (!bias.defined()) s += ", bias=False";
  if (o.padding_mode != "zeros") s += ", padding_mode=" + o.padding_mode;
  return s;
}

Conv2d::Conv2d(int64_t in_channels, int64_t out_channels, Size2 kernel_size, Size2 stride,
               Size2 padding, bool bias, Generator& gen)
    : Conv2d(Conv2dOptions(in_channels, out_channels, kernel_size)
                 .with_stride(stride)
                 .with_padding(padding)
                 .with_bias(bias),
             gen) {}

Tensor Conv2d::forward(const Tensor& x) {
  const auto& o = options;
  const std::array<int64_t, 4> p = padding_amounts();  // left, right, top, bottom
  // As PyTorch's _conv_forward: another padding_mode pads first, then convolves unpadded.
  if (o.padding_mode != "zeros")
    return conv2d(pad(x, {p.begin(), p.end()}, o.padding_mode), weight, bias, o.stride.pair(),
                  {0, 0}, o.dilation.pair(), o.groups);
  // Zeros on both sides alike are the convolution's own padding; the extra one of an even
  // 'same' kernel is a zero pad after (right, bottom) first.
  const Tensor in = p[0] == p[1] && p[2] == p[3] ? x : pad(x, {0, p[1] - p[0], 0, p[3] - p[2]});
  return conv2d(in, weight, bias, o.stride.pair(), {p[2], p[0]}, o.dilation.pair(), o.groups);
}

Tensor ConvTranspose2d::forward(const Tensor& x) {
  return conv_transpose2d(x, weight, bias, options.stride.pair(), options.padding.pair(),
                          options.output_padding.pair(), options.groups, options.dilation.pair());
}

}  // namespace tandem::nn
