// Pooling modules (torch/nn/modules/pooling.py): MaxPool2d, AvgPool2d, AdaptiveAvgPool2d,
// AdaptiveMaxPool2d, MaxUnpool2d. They store the arguments as passed (int or pair), which is what
// PyTorch's repr prints (MaxUnpool2d stores pairs, as PyTorch's _pair does).
//
// return_indices: PyTorch's forward then returns (output, indices). Here forward_many({x}) does
// (what a Sequential chains), and forward_with_indices(x) is the typed form; forward(x), one
// tensor, refuses, as a caller expecting the output alone would silently lose the indices.
// MaxUnpool2d takes (x, indices): forward(x, indices, output_size) or forward_many({x, indices}).
//   nn::MaxPool2d pool(nn::MaxPool2dOptions(2).return_indices_(true));
//   auto [y, idx] = pool.forward_with_indices(x);
//   Tensor back = nn::MaxUnpool2d(2).forward(y, idx);
//
// The adaptive pools' output size may leave an axis None (std::nullopt), which keeps the input's
// size there, as nn.AdaptiveAvgPool2d((None, 7)); the repr prints None as PyTorch's does:
//   nn::AdaptiveAvgPool2d avg({std::nullopt, 7});  // AdaptiveAvgPool2d(output_size=(None, 7))
#pragma once

#include <optional>
#include <utility>
#include <vector>

#include "framework/nn/module.h"
#include "framework/nn/size2.h"
#include "framework/ops/pooling.h"  // AdaptiveSize

namespace tandem::nn {

struct MaxPool2dOptions {
  MaxPool2dOptions(Size2 kernel_size = 1, std::optional<Size2> stride = std::nullopt,
                   Size2 padding = 0)
      : kernel_size(kernel_size), stride(stride), padding(padding) {}
  Size2 kernel_size = 1;
  std::optional<Size2> stride;  // None: kernel_size
  Size2 padding = 0;
  Size2 dilation = 1;
  bool return_indices = false;
  bool ceil_mode = false;
  MaxPool2dOptions& return_indices_(bool v) {
    return_indices = v;
    return *this;
  }
};

class MaxPool2d : public Module {
 public:
  explicit MaxPool2d(const MaxPool2dOptions& options);
  explicit MaxPool2d(Size2 kernel_size, std::optional<Size2> stride = std::nullopt,
                     Size2 padding = 0)
      : MaxPool2d(MaxPool2dOptions(kernel_size, stride, padding)) {}
  Tensor forward(const Tensor& x) override;
  // {output} or, with return_indices, {output, indices}.
  std::vector<Tensor> forward_many(const std::vector<Tensor>& inputs) override;
  std::pair<Tensor, Tensor> forward_with_indices(const Tensor& x);
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
  std::optional<int64_t> divisor_override;  // None; not in PyTorch's repr
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

// An adaptive pool's output_size as passed: one int, or a pair whose entries may be None.
struct AdaptiveSize2 {
  std::optional<int64_t> h, w;
  bool scalar = true;
  AdaptiveSize2(int64_t v) : h(v), w(v), scalar(true) {}  // NOLINT: implicit, as Size2
  AdaptiveSize2(std::optional<int64_t> a, std::optional<int64_t> b) : h(a), w(b), scalar(false) {}
  AdaptiveSize2(Size2 s) : h(s.h), w(s.w), scalar(s.scalar) {}  // NOLINT
  AdaptiveSize2(Pair p) : h(p[0]), w(p[1]), scalar(false) {}    // NOLINT
  AdaptiveSize size() const { return AdaptiveSize(h, w); }
  // As Python prints the stored value: "7", "(3, 4)" or "(None, 7)".
  std::string str() const;
  bool operator==(const AdaptiveSize2& o) const { return h == o.h && w == o.w; }
};

class AdaptiveAvgPool2d : public Module {
 public:
  explicit AdaptiveAvgPool2d(AdaptiveSize2 output_size)
      : Module("AdaptiveAvgPool2d"), output_size(output_size) {}
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override { return "output_size=" + output_size.str(); }
  AdaptiveSize2 output_size;
};

class AdaptiveMaxPool2d : public Module {
 public:
  explicit AdaptiveMaxPool2d(AdaptiveSize2 output_size, bool return_indices = false)
      : Module("AdaptiveMaxPool2d"), output_size(output_size), return_indices(return_indices) {}
  Tensor forward(const Tensor& x) override;
  // {output} or, with return_indices, {output, indices}.
  std::vector<Tensor> forward_many(const std::vector<Tensor>& inputs) override;
  std::pair<Tensor, Tensor> forward_with_indices(const Tensor& x);
  std::string extra_repr() const override { return "output_size=" + output_size.str(); }
  AdaptiveSize2 output_size;
  bool return_indices;
};

class MaxUnpool2d : public Module {
 public:
  explicit MaxUnpool2d(Size2 kernel_size, std::optional<Size2> stride = std::nullopt,
                       Size2 padding = 0);
  // Needs the indices: throws, naming the forms that take them.
  Tensor forward(const Tensor& x) override;
  Tensor forward(const Tensor& x, const Tensor& indices,
                 const std::optional<std::vector<int64_t>>& output_size = std::nullopt);
  // {x, indices} -> {output}.
  std::vector<Tensor> forward_many(const std::vector<Tensor>& inputs) override;
  std::string extra_repr() const override;
  Size2 kernel_size, stride, padding;
};

}  // namespace tandem::nn
