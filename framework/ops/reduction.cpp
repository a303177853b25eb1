// Reductions: sum, mean, var, max, amax, argmax over dims with keepdim.
#include "framework/ops/reduction.h"

#include <algorithm>

#include "framework/autograd/node.h"
#include "framework/ops/elementwise.h"
#include "framework/tensor/factories.h"
#include "kernels/cpu/reduce.h"

namespace tandem {

using autograd::record;
using autograd::TensorList;

namespace {

// Sorted, de-duplicated, wrapped dims; empty `dims` means all dims.
Shape normalize_dims(const Shape& dims, int64_t ndim, const char* op) {
  Shape out;
  if (dims.empty()) {
    for (int64_t d = 0; d < ndim; ++d) out.push_back(d);
    return out;
  }
  for (int64_t d : dims) out.push_back(wrap_dim(d, ndim, op));
  std::sort(out.begin(), out.end());
  TANDEM_CHECK(std::adjacent_find(out.begin(), out.end()) == out.end(), op, ": dim appears multiple times in the list of dims");
  return out;
}

// The reduced shape with keepdim (reduced dims become 1).
Shape kept_shape(const Shape& sizes, const Shape& dims) {
  Shape out = sizes;
  for (int64_t d : dims) out[d] = 1;
  return out;
}

Shape squeezed_shape(const Shape& sizes, const Shape& dims) {
  Shape out;
  for (int64_t d = 0; d < int64_t(sizes.size()); ++d)
    if (!std::binary_search(dims.begin(), dims.end(), d)) out.push_back(sizes[d]);
  return out;
}

int64_t reduced_count(const Shape& sizes, const Shape& dims) {
  int64_t n = 1;
  for (int64_t d : dims) n *= sizes[d];
  return n;
}

// Sum without autograd, into a tensor of `out_dtype` with keepdim shape.
Tensor sum_kernel(const Tensor& x_in, const Shape& dims, DType out_dtype) {
  Tensor x = x_in.is_cuda() ? x_in.cpu() : x_in;
  const Shape keep = kept_shape(x.sizes(), dims);
  Shape out_strides = contiguous_strides(keep);
  for (int64_t d : dims) out_strides[d] = 0;
  const bool integral = !is_floating(x.dtype());
  Tensor acc = zeros(keep, integral ? DType::Int64 : DType::Float64);
  dispatch_all(x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>) {
      TANDEM_FAIL("sum: not implemented for ", dtype_name(x.dtype()));
    } else if constexpr (std::is_floating_point_v<T>) {
      kernels::cpu::sum_into<T, double>(x.sizes(), static_cast<const T*>(x.raw_data()), x.strides(),
                                        acc.data_ptr<double>(), out_strides);
    } else {
      kernels::cpu::sum_into<T, int64_t>(x.sizes(), static_cast<const T*>(x.raw_data()), x.strides(),
                                         acc.data_ptr<int64_t>(), out_strides);
    }
  });
  return acc.to(x_in.device(), out_dtype);
}

}  // namespace

Tensor sum(const Tensor& x, const Shape& dims_in, bool keepdim) {
  const Shape dims = normalize_dims(dims_in, x.dim(), "sum");
  const DType out_dtype = is_floating(x.dtype()) ? x.dtype() : DType::Int64;
  Tensor out = sum_kernel(x, dims, out_dtype);
  if (!keepdim) out = out.reshape(squeezed_shape(x.sizes(), dims));
  const Shape in_shape = x.sizes();
  const Shape keep = kept_shape(in_shape, dims);
  record("SumBackward1", {x}, {out}, {}, [in_shape, keep](const TensorList& g, const TensorList&) {
    return TensorList{g[0].reshape(keep).expand(in_shape).contiguous()};
  });
  return out;
}

Tensor mean(const Tensor& x, const Shape& dims_in, bool keepdim) {
  TANDEM_CHECK(is_floating(x.dtype()), "mean(): could not infer output dtype. Input dtype must be "
               "either a floating point or complex dtype. Got: ", dtype_name(x.dtype()));
  const Shape dims = normalize_dims(dims_in, x.dim(), "mean");
  const int64_t n = reduced_count(x.sizes(), dims);
  Tensor out = sum_kernel(x, dims, DType::Float64);
  out = (out * (1.0 / double(n))).to(x.dtype());
  if (!keepdim) out = out.reshape(squeezed_shape(x.sizes(), dims));
  const Shape in_shape = x.sizes();
  const Shape keep = kept_shape(in_shape, dims);
  record("MeanBackward1", {x}, {out}, {}, [in_shape, keep, n](const TensorList& g, const TensorList&) {
    return TensorList{(g[0].reshape(keep) * (1.0 / double(n))).expand(in_shape).contiguous()};
  });
  return out;
}

}  // namespace tandem
