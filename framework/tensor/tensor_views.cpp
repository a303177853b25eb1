// Tensor views: view/reshape/flatten, squeeze/unsqueeze, transpose/permute, slicing, expand,
// as_strided and detach. A view shares its base's storage; each records its backward.
#include "framework/autograd/grad_mode.h"
#include "framework/autograd/node.h"
#include "framework/core/checked_math.h"
#include "framework/core/object_pool.h"
#include "framework/ops/elementwise.h"
#include "framework/tensor/factories.h"
#include "framework/tensor/tensor.h"

namespace tandem {

using autograd::TensorList;

Tensor make_view(const Tensor& base, Shape sizes, Shape strides, int64_t offset) {
  return Tensor(std::allocate_shared<TensorImpl>(PoolAllocator<TensorImpl>(), base.storage(),
                                                 std::move(sizes), std::move(strides), offset,
                                                 base.dtype()));
}

Tensor Tensor::detach() const { return make_view(*this, sizes(), strides(), storage_offset()); }

namespace {

// Resolves one -1 in `shape` against numel.
Shape infer_size(const Shape& shape, int64_t numel) {
  Shape out = shape;
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == -1) {
      TANDEM_CHECK(infer < 0, "only one dimension can be inferred");
      infer = int64_t(i);
    } else {
      TANDEM_CHECK(out[i] >= 0, "invalid shape dimension ", out[i]);
      known *= out[i];
    }
  }
  if (infer >= 0) {
    TANDEM_CHECK(known != 0 && numel % known == 0, "shape '", shape_str(shape),
                 "' is invalid for input of size ", numel);
    out[infer] = numel / known;
  } else {
    TANDEM_CHECK(known == numel, "shape '", shape_str(shape), "' is invalid for input of size ",
                 numel);
  }
  return out;
}

// Strides for viewing (sizes, strides) as `shape` without a copy, or empty if impossible
// (the chunk-matching rule of PyTorch's computeStride).
std::optional<Shape> view_strides(const Shape& sizes, const Shape& strides, const Shape& shape) {
  // An empty tensor keeps its strides when the shape does not change, as torch's computeStride.
  if (shape_numel(sizes) == 0 && sizes == shape) return strides;
  if (shape_numel(sizes) == 0 || sizes.empty()) return contiguous_strides(shape);
  Shape out(shape.size());
  int64_t view_d = int64_t(shape.size()) - 1;
  int64_t chunk_base_stride = strides.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t d = int64_t(sizes.size()) - 1; d >= 0; --d) {
    tensor_numel *= sizes[d];
    if (d == 0 || (sizes[d - 1] != 1 && strides[d - 1] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || shape[view_d] == 1)) {
        out[view_d] = view_numel * chunk_base_stride;
        view_numel *= shape[view_d];
        --view_d;
      }
      if (view_numel != tensor_numel) return std::nullopt;
      if (d > 0) {
        chunk_base_stride = strides[d - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  if (view_d != -1) return std::nullopt;
  return out;
}

// Records a shape-only view's backward: the gradient is reshaped back to the input's shape.
Tensor record_reshape_view(const char* name, const Tensor& input, Tensor out) {
  Shape in_shape = input.sizes();
  autograd::record(name, {input}, {out}, {}, [in_shape](const TensorList& g, const TensorList&) {
    return TensorList{g[0].reshape(in_shape)};
  });
  return out;
}

}  // namespace

Tensor Tensor::view(const Shape& shape) const {
  Shape target = infer_size(shape, numel());
  auto st = view_strides(sizes(), strides(), target);
  TANDEM_CHECK(
      st.has_value(),
      "view size is not compatible with input tensor's size and stride (at "
      "least one dimension spans across two contiguous subspaces). Use .reshape(...) instead.");
  return record_reshape_view("ViewBackward0", *this,
                             make_view(*this, target, *st, storage_offset()));
}

Tensor Tensor::reshape(const Shape& shape) const {
  Shape target = infer_size(shape, numel());
  if (auto st = view_strides(sizes(), strides(), target))
    return record_reshape_view("ViewBackward0", *this,
                               make_view(*this, target, *st, storage_offset()));
  return contiguous().view(target);
}

Tensor Tensor::flatten(int64_t start_dim, int64_t end_dim) const {
  start_dim = wrap_dim(start_dim, dim(), "flatten");  // a 0-dim tensor takes dims 0 and -1
  end_dim = wrap_dim(end_dim, dim(), "flatten");
  if (dim() == 0) return reshape({1});
  TANDEM_CHECK(start_dim <= end_dim,
               "flatten() has invalid args: start_dim cannot come after end_dim");
  Shape shape(sizes().begin(), sizes().begin() + start_dim);
  int64_t n = 1;
  for (int64_t d = start_dim; d <= end_dim; ++d) n *= sizes()[d];
  shape.push_back(n);
  shape.insert(shape.end(), sizes().begin() + end_dim + 1, sizes().end());
  return reshape(shape);
}

Tensor Tensor::squeeze() const {
  Shape sz, st;
  for (int64_t d = 0; d < dim(); ++d)
    if (sizes()[d] != 1) {
      sz.push_back(sizes()[d]);
      st.push_back(strides()[d]);
    }
  return record_reshape_view("SqueezeBackward0", *this, make_view(*this, sz, st, storage_offset()));
}

Tensor Tensor::squeeze(int64_t d) const {
  d = wrap_dim(d, dim(), "squeeze");
  if (dim() == 0 || sizes()[d] != 1)
    return record_reshape_view("SqueezeBackward1", *this, detach());
  Shape sz = sizes(), st = strides();
  sz.erase(sz.begin() + d);
  st.erase(st.begin() + d);
  return record_reshape_view("SqueezeBackward1", *this, make_view(*this, sz, st, storage_offset()));
}

Tensor Tensor::unsqueeze(int64_t d) const {
  d = wrap_dim(d, dim() + 1, "unsqueeze");
  Shape sz = sizes(), st = strides();
  const int64_t stride = d < dim() ? sizes()[d] * strides()[d] : 1;
  sz.insert(sz.begin() + d, 1);
  st.insert(st.begin() + d, stride);
  return record_reshape_view("UnsqueezeBackward0", *this,
                             make_view(*this, sz, st, storage_offset()));
}

Tensor Tensor::transpose(int64_t d0, int64_t d1) const {
  d0 = wrap_dim(d0, dim(), "transpose");
  d1 = wrap_dim(d1, dim(), "transpose");
  Shape sz = sizes(), st = strides();
  std::swap(sz[d0], sz[d1]);
  std::swap(st[d0], st[d1]);
  Tensor out = make_view(*this, sz, st, storage_offset());
  autograd::record("TransposeBackward0", {*this}, {out}, {},
                   [d0, d1](const TensorList& g, const TensorList&) {
                     return TensorList{g[0].transpose(d0, d1)};
                   });
  return out;
}

Tensor Tensor::t() const {
  TANDEM_CHECK(dim() <= 2, "t() expects a tensor with <= 2 dimensions, but self is ", dim(), "D");
  return dim() < 2 ? *this : transpose(0, 1);
}

Tensor Tensor::permute(const Shape& dims) const {
  TANDEM_CHECK(int64_t(dims.size()) == dim(),
               "permute(): number of dimensions in the tensor input does not match the length of "
               "the desired ordering of dimensions i.e. input.dim() = ",
               dim(), " is not equal to len(dims) = ", dims.size());
  Shape sz(dims.size()), st(dims.size()), inverse(dims.size());
  std::vector<bool> used(dims.size(), false);
  for (size_t i = 0; i < dims.size(); ++i) {
    const int64_t d = wrap_dim(dims[i], dim(), "permute");
    TANDEM_CHECK(!used[d], "permute(): duplicate dims are not allowed.");
    used[d] = true;
    sz[i] = sizes()[d];
    st[i] = strides()[d];
    inverse[d] = int64_t(i);
  }
  Tensor out = make_view(*this, sz, st, storage_offset());
  autograd::record("PermuteBackward0", {*this}, {out}, {},
                   [inverse](const TensorList& g, const TensorList&) {
                     return TensorList{g[0].permute(inverse)};
                   });
  return out;
}

Tensor Tensor::slice(int64_t d, int64_t start, int64_t end, int64_t step) const {
  TANDEM_CHECK(dim() > 0, "slice() cannot be applied to a 0-dim tensor.");
  d = wrap_dim(d, dim(), "slice");
  TANDEM_CHECK(step > 0, "slice step must be positive");
  const int64_t n = sizes()[d];
  if (start < 0) start += n;
  if (end < 0) end += n;
  start = std::clamp<int64_t>(start, 0, n);
  end = std::clamp<int64_t>(end, start, n);
  Shape sz = sizes(), st = strides();
  sz[d] = (end - start + step - 1) / step;
  st[d] *= step;
  Tensor out = make_view(*this, sz, st, storage_offset() + start * strides()[d]);
  Shape in_shape = sizes();
  autograd::record("SliceBackward0", {*this}, {out}, {},
                   [in_shape, d, start, end, step](const TensorList& g, const TensorList&) {
                     Tensor grad = zeros(in_shape, g[0].options());
                     grad.slice(d, start, end, step).copy_(g[0]);
                     return TensorList{grad};
                   });
  return out;
}

Tensor Tensor::narrow(int64_t d, int64_t start, int64_t length) const {
  TANDEM_CHECK(dim() > 0, "narrow() cannot be applied to a 0-dim tensor.");
  d = wrap_dim(d, dim(), "narrow");
  if (start < 0) start += sizes()[d];
  TANDEM_CHECK(start >= 0 && length >= 0 && start + length <= sizes()[d], "narrow: start (", start,
               ") + length (", length, ") exceeds dimension size (", sizes()[d], ")");
  return slice(d, start, start + length);
}

Tensor Tensor::select(int64_t d, int64_t index) const {
  TANDEM_CHECK(dim() > 0, "select() cannot be applied to a 0-dim tensor.");
  d = wrap_dim(d, dim(), "select");
  const int64_t n = sizes()[d];
  TANDEM_CHECK(index >= -n && index < n, "select(): index ", index,
               " out of range for tensor of size ", shape_str(sizes()), " at dimension ", d);
  if (index < 0) index += n;
  Shape sz = sizes(), st = strides();
  sz.erase(sz.begin() + d);
  st.erase(st.begin() + d);
  Tensor out = make_view(*this, sz, st, storage_offset() + index * strides()[d]);
  Shape in_shape = sizes();
  autograd::record("SelectBackward0", {*this}, {out}, {},
                   [in_shape, d, index](const TensorList& g, const TensorList&) {
                     Tensor grad = zeros(in_shape, g[0].options());
                     grad.select(d, index).copy_(g[0]);
                     return TensorList{grad};
                   });
  return out;
}

Tensor Tensor::expand(const Shape& shape) const {
  TANDEM_CHECK(
      int64_t(shape.size()) >= dim(), "expand: the number of sizes provided (", shape.size(),
      ") must be greater or equal to the number of dimensions in the tensor (", dim(), ")");
  const int64_t lead = int64_t(shape.size()) - dim();
  Shape sz(shape.size()), st(shape.size());
  for (int64_t i = int64_t(shape.size()) - 1; i >= 0; --i) {
    const int64_t src = i - lead;
    if (src < 0) {
      TANDEM_CHECK(shape[i] >= 0, "The expanded size of the tensor (", shape[i],
                   ") isn't allowed in a leading, non-existing dimension ", i);
      sz[i] = shape[i];
      st[i] = 0;
      continue;
    }
    const int64_t have = sizes()[src];
    TANDEM_CHECK(shape[i] >= -1, "The expanded size of the tensor (", shape[i],
                 ") must be non-negative (or -1, to keep the size)");
    const int64_t want = shape[i] == -1 ? have : shape[i];
    if (have == want) {
      sz[i] = have;
      st[i] = strides()[src];
    } else {
      TANDEM_CHECK(have == 1, "The expanded size of the tensor (", want,
                   ") must match the existing size (", have, ") at non-singleton dimension ", i,
                   ".  Target sizes: ", shape_str(shape), ".  Tensor sizes: ", shape_str(sizes()));
      sz[i] = want;
      st[i] = 0;
    }
  }
  Tensor out = make_view(*this, sz, st, storage_offset());
  Shape in_shape = sizes();
  autograd::record("ExpandBackward0", {*this}, {out}, {},
                   [in_shape](const TensorList& g, const TensorList&) {
                     return TensorList{sum_to(g[0], in_shape)};
                   });
  return out;
}

Tensor Tensor::as_strided(const Shape& sz, const Shape& st, int64_t offset) const {
  TANDEM_CHECK(!(GradMode::is_enabled() && requires_grad()), "as_strided: not differentiable");
  TANDEM_CHECK(sz.size() == st.size(), "as_strided: sizes and strides differ in length");
  // Checked arithmetic: a wrapped product of sizes and strides would pass a plain bound check.
  const std::optional<int64_t> extent = checked_view_extent(sz, st, offset);
  TANDEM_CHECK(extent.has_value(), "as_strided: negative or overflowing size ", shape_str(sz),
               ", stride ", shape_str(st), " or offset ", offset);
  const std::optional<uint64_t> bytes = checked_bytes(*extent, element_size());
  TANDEM_CHECK(bytes && *bytes <= storage()->nbytes(),
               "as_strided: view out of bounds of the storage");
  return make_view(*this, sz, st, offset);
}

}  // namespace tandem
