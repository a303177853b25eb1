// Pooling modules (torch/nn/modules/pooling.py): MaxPool2d, AvgPool2d, AdaptiveAvgPool2d.
// They store the arguments as passed (int or pair), which is what PyTorch's repr prints.
#pragma once

#include <optional>

#include "framework/nn/module.h"
#include "framework/nn/size2.h"

namespace tandem::nn {

struct MaxPool2dOptions {
  MaxPool2dOptions(Size2 kernel_size = 1, std::optional<Size2> stride = std::nullopt,
                   Size2 padding = 0)
      : kernel_size(kernel_size), stride(stride), padding(padding) {}
  Size2 kernel_size = 1;
  std::optional<Size2> stride;  // None: kernel_size
  Size2 padding = 0;
  Size2 dilation = 1;
  bool ceil_mode = false;
};

class MaxPool2d : public Module {
 public:
  explicit MaxPool2d(const MaxPool2dOptions& options);
  explicit MaxPool2d(Size2 kernel_size, std::optional<Size2> stride = std::nullopt,
                     Size2 padding = 0)
      : MaxPool2d(MaxPool2dOptions(kernel_size, stride, padding)) {}
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  MaxPool2dOptions options;
};

struct AvgPool2dOptions {
  AvgPool2dOptions(Size2 kernel_size = 1, std::optional<Size2> stride = std::nullopt,
                   Size2 padding = 0)
      : kernel_size(kernel_size), stride(stride), padding(padding) {}
  Size2 kernel_size = 1;
  std::optional<Size2> stride;
  Size2 padding = 0;
  bool ceil_mode = false;
  bool count_include_pad = true;
};

class AvgPool2d : public Module {
 public:
  explicit AvgPool2d(const AvgPool2dOptions& options);
  explicit AvgPool2d(Size2 kernel_size, std::optional<Size2> stride = std::nullopt,
                     Size2 padding = 0)
      : AvgPool2d(AvgPool2dOptions(kernel_size, stride, padding)) {}
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  AvgPool2dOptions options;
};

class AdaptiveAvgPool2d : public Module {
 public:
  explicit AdaptiveAvgPool2d(Size2 output_size)
      : Module("AdaptiveAvgPool2d"), output_size(output_size) {}
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override { return "output_size=" + output_size.str(); }
  Size2 output_size;
};

}  // namespace tandem::nn
