// Conv2d / ConvTranspose2d implementation.
#include "framework/nn/conv.h"

#include "framework/nn/init.h"
#include "framework/ops/conv.h"
#include "framework/tensor/factories.h"

namespace tandem::nn {

ConvBase::ConvBase(const char* name, const Conv2dOptions& o, bool transposed, Generator& gen)
    : Module(name), options(o), transposed_(transposed) {
  TANDEM_CHECK(o.groups > 0, "groups must be a positive integer");
  TANDEM_CHECK(o.in_channels % o.groups == 0, "in_channels must be divisible by groups");
  TANDEM_CHECK(o.out_channels % o.groups == 0, "out_channels must be divisible by groups");
  TANDEM_CHECK(o.padding_mode == "zeros", "padding_mode '", o.padding_mode,
               "' is not supported by tandem (only 'zeros')");
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

Pair ConvBase::effective_padding() const {
  if (options.padding_str == "valid") return {0, 0};
  if (options.padding_str == "same") {
    int64_t th = options.dilation.h * (options.kernel_size.h - 1);
    int64_t tw = options.dilation.w * (options.kernel_size.w - 1);
    TANDEM_CHECK(th % 2 == 0 && tw % 2 == 0,
                 "padding='same' with an even effective kernel needs asymmetric padding, which "
                 "tandem does not support");
    return {th / 2, tw / 2};
  }
  return options.padding.pair();
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
  return conv2d(x, weight, bias, options.stride.pair(), effective_padding(),
                options.dilation.pair(), options.groups);
}

Tensor ConvTranspose2d::forward(const Tensor& x) {
  return conv_transpose2d(x, weight, bias, options.stride.pair(), options.padding.pair(),
                          options.output_padding.pair(), options.groups, options.dilation.pair());
}

}  // namespace tandem::nn
