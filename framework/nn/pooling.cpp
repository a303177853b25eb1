// Pooling modules: forward through ops/pooling.h, PyTorch's extra_repr.
#include "framework/nn/pooling.h"

#include "framework/ops/pooling.h"

namespace tandem::nn {

MaxPool2d::MaxPool2d(const MaxPool2dOptions& o) : Module("MaxPool2d"), options(o) {
  if (!options.stride) options.stride = options.kernel_size;
}

Tensor MaxPool2d::forward(const Tensor& x) {
  return max_pool2d(x, options.kernel_size.pair(), options.stride->pair(), options.padding.pair(),
                    options.dilation.pair(), options.ceil_mode);
}

std::string MaxPool2d::extra_repr() const {
  return "kernel_size=" + options.kernel_size.str() + ", stride=" + options.stride->str() +
         ", padding=" + options.padding.str() + ", dilation=" + options.dilation.str() +
         ", ceil_mode=" + py_bool(options.ceil_mode);
}

AvgPool2d::AvgPool2d(const AvgPool2dOptions& o) : Module("AvgPool2d"), options(o) {
  if (!options.stride) options.stride = options.kernel_size;
}

Tensor AvgPool2d::forward(const Tensor& x) {
  return avg_pool2d(x, options.kernel_size.pair(), options.stride->pair(), options.padding.pair(),
                    options.ceil_mode, options.count_include_pad);
}

std::string AvgPool2d::extra_repr() const {
  return "kernel_size=" + options.kernel_size.str() + ", stride=" + options.stride->str() +
         ", padding=" + options.padding.str();
}

Tensor AdaptiveAvgPool2d::forward(const Tensor& x) {
  return adaptive_avg_pool2d(x, output_size.pair());
}

}  // namespace tandem::nn
