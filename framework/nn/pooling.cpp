// Pooling modules: forward through ops/pooling.h, PyTorch's extra_repr.
#include "framework/nn/pooling.h"

#include "framework/ops/pooling.h"

namespace tandem::nn {

MaxPool2d::MaxPool2d(const MaxPool2dOptions& o) : Module("MaxPool2d"), options(o) {
  if (!options.stride) options.stride = options.kernel_size;
}

Tensor MaxPool2d::forward(const Tensor& x) {
  TANDEM_CHECK(!options.return_indices,
               "MaxPool2d(return_indices=True).forward returns 2 tensors; call forward_many or "
               "forward_with_indices to get them");
  return max_pool2d(x, options.kernel_size.pair(), options.stride->pair(), options.padding.pair(),
                    options.dilation.pair(), options.ceil_mode);
}

std::pair<Tensor, Tensor> MaxPool2d::forward_with_indices(const Tensor& x) {
  return max_pool2d_with_indices(x, options.kernel_size.pair(), options.stride->pair(),
                                 options.padding.pair(), options.dilation.pair(),
                                 options.ceil_mode);
}

std::vector<Tensor> MaxPool2d::forward_many(const std::vector<Tensor>& inputs) {
  TANDEM_CHECK(inputs.size() == 1, "MaxPool2d.forward takes 1 input, got ", inputs.size());
  if (!options.return_indices) return {forward(inputs[0])};
  auto [out, indices] = forward_with_indices(inputs[0]);
  return {out, indices};
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
                    options.ceil_mode, options.count_include_pad, options.divisor_override);
}

std::string AvgPool2d::extra_repr() const {
  return "kernel_size=" + options.kernel_size.str() + ", stride=" + options.stride->str() +
         ", padding=" + options.padding.str();
}

std::string AdaptiveSize2::str() const {
  auto one = [](const std::optional<int64_t>& v) { return v ? std::to_string(*v) : "None"; };
  if (scalar) return one(h);
  std::string s("(");  // appends, not "(" + ..., which trips GCC 12's -Wrestrict
  s.append(one(h)).append(", ").append(one(w)).append(")");
  return s;
}

Tensor AdaptiveAvgPool2d::forward(const Tensor& x) {
  return adaptive_avg_pool2d(x, output_size.size());
}

Tensor AdaptiveMaxPool2d::forward(const Tensor& x) {
  TANDEM_CHECK(!return_indices,
               "AdaptiveMaxPool2d(return_indices=True).forward returns 2 tensors; call "
               "forward_many or forward_with_indices to get them");
  return adaptive_max_pool2d(x, output_size.size());
}

std::pair<Tensor, Tensor> AdaptiveMaxPool2d::forward_with_indices(const Tensor& x) {
  return adaptive_max_pool2d_with_indices(x, output_size.size());
}

std::vector<Tensor> AdaptiveMaxPool2d::forward_many(const std::vector<Tensor>& inputs) {
  TANDEM_CHECK(inputs.size() == 1, "AdaptiveMaxPool2d.forward takes 1 input, got ", inputs.size());
  if (!return_indices) return {forward(inputs[0])};
  auto [out, indices] = forward_with_indices(inputs[0]);
  return {out, indices};
}

// PyTorch's MaxUnpool2d stores _pair(kernel_size), _pair(stride or kernel_size), _pair(padding).
MaxUnpool2d::MaxUnpool2d(Size2 kernel_size, std::optional<Size2> stride, Size2 padding)
    : Module("MaxUnpool2d"),
      kernel_size(kernel_size.pair()),
      stride(stride.value_or(kernel_size).pair()),
      padding(padding.pair()) {}

Tensor MaxUnpool2d::forward(const Tensor&) {
  throw Error(
      "MaxUnpool2d.forward needs the indices of the max pooling: call forward(x, indices) or "
      "forward_many({x, indices})");
}

Tensor MaxUnpool2d::forward(const Tensor& x, const Tensor& indices,
                            const std::optional<std::vector<int64_t>>& output_size) {
  return max_unpool2d(x, indices, kernel_size.pair(), stride.pair(), padding.pair(), output_size);
}

std::vector<Tensor> MaxUnpool2d::forward_many(const std::vector<Tensor>& inputs) {
  TANDEM_CHECK(inputs.size() == 2, "MaxUnpool2d.forward takes 2 inputs (x, indices), got ",
               inputs.size());
  return {forward(inputs[0], inputs[1])};
}

std::string MaxUnpool2d::extra_repr() const {
  return "kernel_size=" + kernel_size.tuple_str() + ", stride=" + stride.tuple_str() +
         ", padding=" + padding.tuple_str();
}

}  // namespace tandem::nn
