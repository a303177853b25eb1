// Reductions: sum, mean, var, max, min, amax, argmax over dims with keepdim.
#include "framework/ops/reduction.h"

#include <algorithm>
#include <limits>

#include "framework/autograd/grad_mode.h"
#include "framework/autograd/node.h"
#include "framework/ops/autocast.h"
#include "framework/ops/elementwise.h"
#include "framework/tensor/factories.h"
#include "framework/tensor/kernel_args.h"
#include "kernels/kernel_table.h"

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
  TANDEM_CHECK(std::adjacent_find(out.begin(), out.end()) == out.end(), op,
               ": dim appears multiple times in the list of dims");
  // A 0-dim tensor accepts dim 0 (or -1), as PyTorch, but has no dim to reduce.
  if (ndim == 0) out.clear();
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

// Sum without autograd, into a tensor of `out_dtype` with keepdim shape, on x's device.
Tensor sum_kernel(const Tensor& x, const Shape& dims, DType out_dtype) {
  Tensor out = empty(kept_shape(x.sizes(), dims), TensorOptions(out_dtype, x.device()));
  kernels::sum_reduce(kernel_context(x), x.sizes(), strided(x), dims, buffer(out));
  return out;
}

// Max over `dims` without autograd, keepdim shape, same dtype (NaN propagates).
Tensor max_kernel(const Tensor& x, const Shape& dims, const char* op) {
  for (int64_t d : dims)
    TANDEM_CHECK(x.sizes()[d] != 0, op, "(): Expected reduction dim ", d,
                 " to have non-zero size.");
  dispatch_arithmetic_or_half(x.dtype(), op, [](auto) {});
  Tensor out = empty(kept_shape(x.sizes(), dims), x.options());
  kernels::max_reduce(kernel_context(x), x.sizes(), strided(x), dims, buffer(out));
  return out;
}

// 1 where x equals its (keepdim) max; with `nan_ties`, NaN matching NaN too.
Tensor max_ties(const Tensor& x, const Tensor& max_keep, bool nan_ties) {
  const DType dt = x.dtype();
  const Tensor equal = eq(x, max_keep).to(dt);
  return nan_ties ? equal + ne(x, x).to(dt) * ne(max_keep, max_keep).to(dt) : equal;
}

// Gradient of a max over `dims` split evenly among ties. PyTorch's max() and min() of a whole
// tensor count a NaN maximum's NaNs as its ties (evenly_distribute_backward); amax compares with
// == only (scale_grad_by_count), so a NaN maximum shares its gradient among no element and the
// whole slice's gradient is NaN (0 * (g / 0)).
enum class NanTies : bool { No, Yes };
Tensor evenly_distribute_backward(const Tensor& g, const Tensor& x, const Tensor& out,
                                  const Shape& keep, NanTies nan_ties) {
  const Tensor mask = max_ties(x, out.reshape(keep), nan_ties == NanTies::Yes);
  Shape dims;
  for (int64_t d = 0; d < x.dim(); ++d)
    if (keep[d] == 1 && x.sizes()[d] != 1) dims.push_back(d);
  // Over no dim of size above 1 each element is its own slice, counted by the mask itself (0 for
  // amax's NaN maximum, whose gradient is then NaN as PyTorch's).
  const Tensor count = dims.empty() ? mask : sum(mask, dims, /*keepdim=*/true);
  return mask * (g.reshape(keep) / count);
}

// max along one dim without autograd: (values, indices) with keepdim shape.
std::pair<Tensor, Tensor> max_along_dim(const Tensor& x_in, int64_t dim, const char* op) {
  const Tensor x = x_in.contiguous();
  Shape sizes = x.sizes();
  if (sizes.empty()) sizes = {1};
  TANDEM_CHECK(sizes[dim] != 0, op, "(): Expected reduction dim ", dim, " to have non-zero size.");
  dispatch_arithmetic_or_half(x.dtype(), op, [](auto) {});
  Shape keep = sizes;
  keep[dim] = 1;
  if (x.dim() == 0) keep = {};
  Tensor values = empty(keep, x.options());
  Tensor indices = empty(keep, TensorOptions(DType::Int64, x.device()));
  kernels::max_along(kernel_context(x), slab_around(sizes, dim), buffer(x), buffer(values),
                     buffer(indices));
  return {values, indices};
}

}  // namespace

Tensor sum(const Tensor& x, const Shape& dims_in, bool keepdim) {
  if (const auto c = autocast::cast_operands(autocast::OpClass::Reduction, {&x})) {
    const autocast::Suspend nested;
    return sum((*c)[0], dims_in, keepdim);
  }
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
  TANDEM_CHECK(is_floating(x.dtype()),
               "mean(): could not infer output dtype. Input dtype must be "
               "either a floating point or complex dtype. Got: ",
               dtype_name(x.dtype()));
  const Shape dims = normalize_dims(dims_in, x.dim(), "mean");
  const int64_t n = reduced_count(x.sizes(), dims);
  Tensor out = sum_kernel(x, dims, DType::Float64);
  out = (out * (1.0 / double(n))).to(x.dtype());
  if (!keepdim) out = out.reshape(squeezed_shape(x.sizes(), dims));
  const Shape in_shape = x.sizes();
  const Shape keep = kept_shape(in_shape, dims);
  record(
      "MeanBackward1", {x}, {out}, {}, [in_shape, keep, n](const TensorList& g, const TensorList&) {
        return TensorList{(g[0].reshape(keep) * (1.0 / double(n))).expand(in_shape).contiguous()};
      });
  return out;
}

Tensor var(const Tensor& x, const Shape& dims_in, int64_t correction, bool keepdim) {
  TANDEM_CHECK(is_floating(x.dtype()),
               "std and var only support floating point and complex dtypes");
  const Shape dims = normalize_dims(dims_in, x.dim(), "var");
  const int64_t n = reduced_count(x.sizes(), dims);
  // PyTorch divides by max(0, N - correction): N <= correction gives inf or nan.
  const double denom = double(std::max<int64_t>(0, n - correction));
  Tensor out;
  {
    NoGradGuard no_grad;
    // float16 / bfloat16 in float32, as PyTorch's accumulate type: squares of half values
    // overflow float16 long before their mean does.
    const Tensor xc = is_half(x.dtype()) ? x.to(DType::Float32) : x;
    const Tensor centered = xc - mean(xc, dims, /*keepdim=*/true);
    out = (sum(centered * centered, dims, keepdim) / denom).to(x.dtype());
  }
  const Shape keep = kept_shape(x.sizes(), dims);
  record("VarBackward0", {x}, {out}, {x},
         [dims, keep, denom](const TensorList& g, const TensorList& s) {
           const Tensor& in = s[0];
           return TensorList{(g[0].reshape(keep) * (2.0 / denom)) * (in - mean(in, dims, true))};
         });
  return out;
}

Tensor max(const Tensor& x) {
  TANDEM_CHECK(x.numel() > 0,
               "max(): Expected reduction dim to be specified for input.numel() == 0. Specify the "
               "reduction dim with the 'dim' argument.");
  const Shape dims = normalize_dims({}, x.dim(), "max");
  Tensor out = max_kernel(x, dims, "max").reshape({});
  const Shape keep = kept_shape(x.sizes(), dims);
  record("MaxBackward1", {x}, {out}, {x, out}, [keep](const TensorList& g, const TensorList& s) {
    return TensorList{evenly_distribute_backward(g[0], s[0], s[1], keep, NanTies::Yes)};
  });
  return out;
}

Tensor min(const Tensor& x) {
  TANDEM_CHECK(x.numel() > 0,
               "min(): Expected reduction dim to be specified for input.numel() == 0. Specify the "
               "reduction dim with the 'dim' argument.");
  const Shape dims = normalize_dims({}, x.dim(), "min");
  Tensor out;
  {
    // min(x) = -max(-x), exact for floats. Integers go through int64, where -x cannot overflow
    // except for int64's lowest value, which is then the minimum.
    NoGradGuard no_grad;
    if (is_floating(x.dtype())) {
      out = neg(max_kernel(neg(x), dims, "min"));
    } else {
      dispatch_arithmetic(x.dtype(), "min", [](auto) {});
      const Tensor wide = x.to(DType::Int64);
      out = neg(max_kernel(neg(wide), dims, "min"));
      if (x.dtype() == DType::Int64) {
        const Tensor lowest =
            full({}, double(std::numeric_limits<int64_t>::lowest()), wide.options());
        // Chosen on the device: reading the count would make the host wait.
        const Tensor has_lowest = gt(sum(eq(wide, lowest)), zeros({}, wide.options()));
        out = where(has_lowest, lowest, out);
      }
      out = out.to(x.dtype());
    }
    out = out.reshape({});
  }
  const Shape keep = kept_shape(x.sizes(), dims);
  record("MinBackward1", {x}, {out}, {x, out}, [keep](const TensorList& g, const TensorList& s) {
    return TensorList{evenly_distribute_backward(g[0], s[0], s[1], keep, NanTies::Yes)};
  });
  return out;
}

Tensor amax(const Tensor& x, const Shape& dims_in, bool keepdim) {
  const Shape dims = normalize_dims(dims_in, x.dim(), "amax");
  Tensor out = max_kernel(x, dims, "amax");
  if (!keepdim) out = out.reshape(squeezed_shape(x.sizes(), dims));
  const Shape keep = kept_shape(x.sizes(), dims);
  record("AmaxBackward0", {x}, {out}, {x, out}, [keep](const TensorList& g, const TensorList& s) {
    return TensorList{evenly_distribute_backward(g[0], s[0], s[1], keep, NanTies::No)};
  });
  return out;
}

std::pair<Tensor, Tensor> max(const Tensor& x, int64_t dim_in, bool keepdim) {
  const int64_t dim = wrap_dim(dim_in, std::max<int64_t>(x.dim(), 1), "max");
  auto [values, indices] = max_along_dim(x, dim, "max");
  if (!keepdim && x.dim() > 0) {
    values = values.squeeze(dim);
    indices = indices.squeeze(dim);
  }
  const Shape in_shape = x.sizes();
  record("MaxBackward0", {x}, {values}, {indices},
         [in_shape, dim](const TensorList& g, const TensorList& s) {
           // The gradient goes to the index that produced each value (first occurrence).
           const Shape sizes = in_shape.empty() ? Shape{1} : in_shape;
           const Tensor grad = g[0].contiguous();
           const Tensor idx = s[0].contiguous();
           Tensor gin = zeros(in_shape, grad.options());
           kernels::scatter_along(kernel_context(grad), slab_around(sizes, dim), buffer(grad),
                                  buffer(idx), buffer(gin));
           return TensorList{gin};
         });
  return {values, indices};
}

Tensor argmax(const Tensor& x, int64_t dim_in, bool keepdim) {
  const int64_t dim = wrap_dim(dim_in, std::max<int64_t>(x.dim(), 1), "argmax");
  Tensor indices = max_along_dim(x, dim, "argmax").second;
  if (!keepdim && x.dim() > 0) indices = indices.squeeze(dim);
  return indices;
}

}  // namespace tandem
