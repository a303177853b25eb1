// Pooling ops: shape rules and autograd; the loops are the pooling kernel families.
#include "framework/ops/pooling.h"

#include <string>

#include "framework/autograd/node.h"
#include "framework/ops/scalar_type.h"
#include "framework/tensor/factories.h"
#include "framework/tensor/kernel_args.h"
#include "kernels/kernel_table.h"

namespace tandem {

using autograd::record;
using autograd::TensorList;
using kernels::PoolGeometry;

namespace {

// PyTorch's pooling_output_shape, including the ceil_mode rule that the last window must start
// inside the input or its left padding.
int64_t pooled_size(int64_t in, int64_t k, int64_t pad, int64_t stride, int64_t dil,
                    bool ceil_mode) {
  const int64_t num = in + 2 * pad - dil * (k - 1) - 1 + (ceil_mode ? stride - 1 : 0);
  int64_t out = (num >= 0 ? num / stride : -((-num + stride - 1) / stride)) + 1;
  if (ceil_mode && (out - 1) * stride >= in + pad) --out;
  return out;
}

// Views x as (planes, H, W) with planes = N*C (or C for CHW input).
struct Planes {
  Tensor x;
  Shape lead;  // dims before H, W
  int64_t planes, h, w;
};

Planes as_planes(const Tensor& input, const char* op) {
  TANDEM_CHECK(input.dim() == 3 || input.dim() == 4, op, ": expected 3D or 4D input, got ",
               shape_str(input.sizes()));
  Planes p;
  p.x = input.contiguous();
  p.lead.assign(input.sizes().begin(), input.sizes().end() - 2);
  p.planes = shape_numel(p.lead);
  p.h = input.size(-2);
  p.w = input.size(-1);
  return p;
}

Shape out_shape(const Planes& p, int64_t oh, int64_t ow) {
  Shape s = p.lead;
  s.push_back(oh);
  s.push_back(ow);
  return s;
}

// PyTorch 1.13's checks in its order and words (pooling_output_shape per dim, H first, then
// pool2d_shape_check): the padding limit is half the kernel, whatever the dilation.
void check_window(Pair k, Pair s, Pair pad, Pair dil) {
  for (int i = 0; i < 2; ++i) {
    TANDEM_CHECK(s[i] != 0, "stride should not be zero");
    TANDEM_CHECK(pad[i] >= 0, "pad must be non-negative, but got pad: ", pad[i]);
    TANDEM_CHECK(pad[i] <= k[i] / 2,
                 "pad should be at most half of kernel size, but got pad=", pad[i],
                 " and kernel_size=", k[i]);
  }
  TANDEM_CHECK(k[0] > 0 && k[1] > 0, "kernel size should be greater than zero, but got kH: ", k[0],
               " kW: ", k[1]);
  TANDEM_CHECK(s[0] > 0 && s[1] > 0, "stride should be greater than zero, but got dH: ", s[0],
               " dW: ", s[1]);
  TANDEM_CHECK(dil[0] > 0 && dil[1] > 0,
               "dilation should be greater than zero, but got dilationH: ", dil[0],
               " dilationW: ", dil[1]);
}

}  // namespace

Tensor max_pool2d(const Tensor& input, Pair k) { return max_pool2d(input, k, k); }

Tensor max_pool2d(const Tensor& input, Pair k, Pair stride, Pair padding, Pair dilation,
                  bool ceil_mode) {
  return max_pool2d_with_indices(input, k, stride, padding, dilation, ceil_mode).first;
}

std::pair<Tensor, Tensor> max_pool2d_with_indices(const Tensor& input, Pair k) {
  return max_pool2d_with_indices(input, k, k);
}

std::pair<Tensor, Tensor> max_pool2d_with_indices(const Tensor& input, Pair k, Pair stride,
                                                  Pair padding, Pair dilation, bool ceil_mode) {
  check_window(k, stride, padding, dilation);
  Planes p = as_planes(input, "max_pool2d");
  const int64_t oh = pooled_size(p.h, k[0], padding[0], stride[0], dilation[0], ceil_mode);
  const int64_t ow = pooled_size(p.w, k[1], padding[1], stride[1], dilation[1], ceil_mode);
  TANDEM_CHECK(oh > 0 && ow > 0, "max_pool2d: output size is too small for input ",
               shape_str(input.sizes()));
  const PoolGeometry g{p.planes,  p.h,       p.w,        oh,         ow,          k[0],       k[1],
                       stride[0], stride[1], padding[0], padding[1], dilation[0], dilation[1]};
  Tensor out = empty(out_shape(p, oh, ow), input.options());
  Tensor indices = empty(out.sizes(), TensorOptions(DType::Int64, input.device()));
  kernels::max_pool2d_forward(kernel_context(input), g, buffer(p.x), buffer(out), buffer(indices));
  const Shape in_shape = input.sizes();
  record("MaxPool2DWithIndicesBackward0", {input}, {out}, {indices},
         [g, in_shape](const TensorList& gr, const TensorList& s) {
           Tensor go = gr[0].contiguous();
           Tensor gi = zeros(in_shape, go.options());
           kernels::max_pool2d_backward(kernel_context(go), g, buffer(go), buffer(s[0]),
                                        buffer(gi));
           return TensorList{gi};
         });
  return {out, indices};
}

Tensor avg_pool2d(const Tensor& input, Pair k) { return avg_pool2d(input, k, k); }

Tensor avg_pool2d(const Tensor& input, Pair k, Pair stride, Pair padding, bool ceil_mode,
                  bool count_include_pad, std::optional<int64_t> divisor_override) {
  // PyTorch checks the divisor before the window.
  TANDEM_CHECK(!divisor_override || *divisor_override != 0, "divisor must be not zero");
  const int64_t divisor = divisor_override.value_or(0);
  check_window(k, stride, padding, {1, 1});
  Planes p = as_planes(input, "avg_pool2d");
  const int64_t oh = pooled_size(p.h, k[0], padding[0], stride[0], 1, ceil_mode);
  const int64_t ow = pooled_size(p.w, k[1], padding[1], stride[1], 1, ceil_mode);
  TANDEM_CHECK(oh > 0 && ow > 0, "avg_pool2d: output size is too small for input ",
               shape_str(input.sizes()));
  const PoolGeometry g{p.planes,  p.h,       p.w,        oh,         ow, k[0], k[1],
                       stride[0], stride[1], padding[0], padding[1], 1,  1};
  Tensor out = empty(out_shape(p, oh, ow), input.options());
  kernels::avg_pool2d_forward(kernel_context(input), g, count_include_pad, divisor, buffer(p.x),
                              buffer(out));
  const Shape in_shape = input.sizes();
  record("AvgPool2DBackward0", {input}, {out}, {},
         [g, in_shape, count_include_pad, divisor](const TensorList& gr, const TensorList&) {
           Tensor go = gr[0].contiguous();
           Tensor gi = zeros(in_shape, go.options());
           kernels::avg_pool2d_backward(kernel_context(go), g, count_include_pad, divisor,
                                        buffer(go), buffer(gi));
           return TensorList{gi};
         });
  return out;
}

Tensor adaptive_avg_pool2d(const Tensor& input, AdaptiveSize size) {
  Planes p = as_planes(input, "adaptive_avg_pool2d");
  const Pair output_size = size.resolve(p.h, p.w);
  TANDEM_CHECK(output_size[0] > 0 && output_size[1] > 0,
               "adaptive_avg_pool2d: output size must be positive");
  const PoolGeometry g{p.planes, p.h, p.w, output_size[0], output_size[1], 0, 0, 0, 0, 0, 0, 1, 1};
  Tensor out = empty(out_shape(p, output_size[0], output_size[1]), input.options());
  kernels::adaptive_avg_pool2d_forward(kernel_context(input), g, buffer(p.x), buffer(out));
  const Shape in_shape = input.sizes();
  record("AdaptiveAvgPool2DBackward0", {input}, {out}, {},
         [g, in_shape](const TensorList& gr, const TensorList&) {
           Tensor go = gr[0].contiguous();
           Tensor gi = zeros(in_shape, go.options());
           kernels::adaptive_avg_pool2d_backward(kernel_context(go), g, buffer(go), buffer(gi));
           return TensorList{gi};
         });
  return out;
}

Tensor adaptive_max_pool2d(const Tensor& input, AdaptiveSize output_size) {
  return adaptive_max_pool2d_with_indices(input, output_size).first;
}

std::pair<Tensor, Tensor> adaptive_max_pool2d_with_indices(const Tensor& input, AdaptiveSize size) {
  Planes p = as_planes(input, "adaptive_max_pool2d");
  const Pair output_size = size.resolve(p.h, p.w);
  // PyTorch's check: every window needs an element (the batch dim of NCHW may be empty).
  for (int64_t d = 1; d < input.dim(); ++d)
    TANDEM_CHECK(input.size(d) > 0,
                 "adaptive_max_pool2d(): Expected input to have non-zero size for non-batch "
                 "dimensions, but input has sizes ",
                 shape_str(input.sizes()), " with dimension ", d, " being empty");
  TANDEM_CHECK(output_size[0] >= 0 && output_size[1] >= 0,
               "adaptive_max_pool2d: output size must be non-negative, got (", output_size[0], ", ",
               output_size[1], ")");
  const PoolGeometry g{p.planes, p.h, p.w, output_size[0], output_size[1], 0, 0, 0, 0, 0, 0, 1, 1};
  Tensor out = empty(out_shape(p, output_size[0], output_size[1]), input.options());
  Tensor indices = empty(out.sizes(), TensorOptions(DType::Int64, input.device()));
  kernels::adaptive_max_pool2d_forward(kernel_context(input), g, buffer(p.x), buffer(out),
                                       buffer(indices));
  const Shape in_shape = input.sizes();
  record("AdaptiveMaxPool2DBackward0", {input}, {out}, {indices},
         [g, in_shape](const TensorList& gr, const TensorList& s) {
           Tensor go = gr[0].contiguous();
           Tensor gi = zeros(in_shape, go.options());
           kernels::adaptive_max_pool2d_backward(kernel_context(go), g, buffer(go), buffer(s[0]),
                                                 buffer(gi));
           return TensorList{gi};
         });
  return {out, indices};
}

namespace {

// PyTorch's _unpool_output_size (torch/nn/functional.py), its ValueErrors included.
Pair unpool_size(const Tensor& x, Pair k, Pair stride, Pair padding,
                 const std::optional<std::vector<int64_t>>& output_size) {
  Pair size{};
  for (int d = 0; d < 2; ++d)
    size[d] = (x.size(x.dim() - 2 + d) - 1) * stride[d] + k[d] - 2 * padding[d];
  if (!output_size) return size;
  std::vector<int64_t> o = *output_size;
  if (o.size() == 4) o.erase(o.begin(), o.begin() + 2);
  TANDEM_CHECK(o.size() == 2,
               "output_size should be a sequence containing 2 or 4 elements, but it has a "
               "length of '",
               output_size->size(), "'");
  for (int d = 0; d < 2; ++d) {
    const int64_t lo = size[d] - stride[d], hi = size[d] + stride[d];
    TANDEM_CHECK(lo < o[d] && o[d] < hi, "invalid output_size \"(", o[0], ", ", o[1], ")\" (dim ",
                 d, " must be between ", lo, " and ", hi, ")");
  }
  return {o[0], o[1]};
}

}  // namespace

Tensor max_unpool2d(const Tensor& input, const Tensor& indices, Pair k, std::optional<Pair> stride,
                    Pair padding, const std::optional<std::vector<int64_t>>& output_size) {
  TANDEM_CHECK(input.dim() == 3 || input.dim() == 4,
               "Input to max_unpooling2d should be a 3d or 4d Tensor, but got a tensor with ",
               input.dim(), " dimensions.");
  const Pair st = stride.value_or(k);
  const Pair size = unpool_size(input, k, st, padding, output_size);
  TANDEM_CHECK(indices.dtype() == DType::Int64,
               "elements in indices should be type int64 but got: ",
               ops_detail::scalar_type_name(indices.dtype()));
  TANDEM_CHECK(input.sizes() == indices.sizes(),
               "Expected shape of indices to be same as that of the input tensor (",
               shape_str(input.sizes()),
               ") but got indices tensor with shape: ", shape_str(indices.sizes()));
  for (int64_t d = 1; d < input.dim(); ++d)
    TANDEM_CHECK(input.size(d) > 0,
                 "max_unpooling2d_forward_out_cpu(): Expected input to have non-zero size for "
                 "non-batch dimensions, but got ",
                 shape_str(input.sizes()), " with dimension ", d, " being empty.");
  TANDEM_CHECK(size[0] >= 0 && size[1] >= 0, "max_unpool2d: output size (", size[0], ", ", size[1],
               ") is negative");
  check_same_device("max_unpool2d", {&input, &indices});
  Planes p = as_planes(input, "max_unpool2d");
  const Tensor idx = indices.contiguous();
  // The geometry of the pooling being inverted: its input is this op's output.
  const PoolGeometry g{p.planes, size[0], size[1],    p.h,        p.w, k[0], k[1],
                       st[0],    st[1],   padding[0], padding[1], 1,   1};
  Tensor out = zeros(out_shape(p, size[0], size[1]), input.options());
  kernels::max_unpool2d_forward(kernel_context(input), g, buffer(p.x), buffer(idx), buffer(out));
  const Shape in_shape = input.sizes();
  record("MaxUnpool2DBackward0", {input}, {out}, {idx},
         [g, in_shape](const TensorList& gr, const TensorList& s) {
           Tensor go = gr[0].contiguous();
           Tensor gi = empty(in_shape, go.options());
           kernels::max_unpool2d_backward(kernel_context(go), g, buffer(go), buffer(s[0]),
                                          buffer(gi));
           return TensorList{gi};
         });
  return out;
}

}  // namespace tandem
