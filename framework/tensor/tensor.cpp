// Tensor metadata, autograd accessors, views (with their backward), copies and conversion.
#include "framework/tensor/tensor.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <iomanip>
#include <numeric>
#include <sstream>

#include "framework/autograd/engine.h"
#include "framework/autograd/grad_mode.h"
#include "framework/autograd/node.h"
#include "framework/core/checked_math.h"
#include "framework/ops/activation.h"
#include "framework/ops/elementwise.h"
#include "framework/ops/linalg.h"
#include "framework/ops/reduction.h"
#include "framework/tensor/factories.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cuda/device_api.h"

namespace tandem {

using autograd::autograd_meta;
using autograd::TensorList;

TensorImpl::TensorImpl(Storage s, Shape sz, Shape st, int64_t off, DType dt)
    : storage(std::move(s)), sizes(std::move(sz)), strides(std::move(st)), offset(off), dtype(dt) {}
TensorImpl::~TensorImpl() = default;

// --- helpers ----------------------------------------------------------------------------------

int64_t wrap_dim(int64_t dim, int64_t ndim, const char* op) {
  const int64_t n = std::max<int64_t>(ndim, 1);  // 0-dim tensors accept dim 0 and -1
  if (dim < -n || dim >= n)
    TANDEM_FAIL(op, ": dimension out of range (expected to be in range of [", -n, ", ", n - 1,
                "], but got ", dim, ")");
  return dim < 0 ? dim + n : dim;
}

int64_t shape_numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  return n;
}

Shape contiguous_strides(const Shape& shape) {
  Shape st(shape.size());
  int64_t s = 1;
  for (int64_t d = int64_t(shape.size()) - 1; d >= 0; --d) {
    st[d] = s;
    s *= std::max<int64_t>(shape[d], 1);
  }
  return st;
}

std::string shape_str(const Shape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

std::string torch_size_str(const Shape& shape) { return "torch.Size(" + shape_str(shape) + ")"; }

namespace {

Tensor make_view(const Tensor& base, Shape sizes, Shape strides, int64_t offset) {
  return Tensor(std::make_shared<TensorImpl>(base.storage(), std::move(sizes), std::move(strides), offset,
                                             base.dtype()));
}

// Refuses in-place changes that would silently bypass autograd.
void check_inplace(const Tensor& t, const char* op) {
  if (!GradMode::is_enabled() || !t.requires_grad()) return;
  if (t.is_leaf())
    throw Error(std::string(op) + ": a leaf tensor that requires grad is being used in an in-place operation.",
                "wrap the update in tandem::NoGradGuard");
  throw Error(std::string(op) + ": in-place operations on tensors that require grad are not supported",
              "use the out-of-place form");
}

}  // namespace

// --- metadata ---------------------------------------------------------------------------------

int64_t Tensor::size(int64_t dim) const { return sizes()[wrap_dim(dim, this->dim(), "size")]; }
int64_t Tensor::stride(int64_t dim) const { return strides()[wrap_dim(dim, this->dim(), "stride")]; }
int64_t Tensor::numel() const { return shape_numel(sizes()); }

bool Tensor::is_contiguous() const {
  int64_t expected = 1;
  for (int64_t d = dim() - 1; d >= 0; --d) {
    if (sizes()[d] == 1) continue;
    if (strides()[d] != expected) return false;
    expected *= sizes()[d];
  }
  return true;
}

void* Tensor::raw_data() const {
  return static_cast<char*>(storage()->data()) + storage_offset() * int64_t(element_size());
}

double Tensor::item() const {
  TANDEM_CHECK(numel() == 1, "a Tensor with ", numel(), " elements cannot be converted to Scalar");
  Tensor c = is_cuda() ? cpu() : *this;
  return dispatch_all(dtype(), [&](auto tag) -> double {
    using T = typename decltype(tag)::type;
    const T v = *static_cast<const T*>(c.raw_data());
    if constexpr (std::is_same_v<T, Half>) return kernels::half_to_float(v);
    else if constexpr (std::is_same_v<T, BFloat16>) return kernels::bfloat16_to_float(v);
    else return double(v);
  });
}

std::vector<double> Tensor::to_vector() const {
  Tensor c = to(kCPU, DType::Float64).contiguous();
  const double* p = c.data_ptr<double>();
  return std::vector<double>(p, p + c.numel());
}

// --- autograd ---------------------------------------------------------------------------------

bool Tensor::requires_grad() const {
  const auto& m = checked()->autograd;
  return m && (m->requires_grad || m->grad_fn);
}

Tensor& Tensor::set_requires_grad(bool requires_grad) {
  auto& meta = autograd_meta(*this);
  if (meta.grad_fn)
    throw Error("you can only change requires_grad flags of leaf variables.",
                "call detach() first to get a leaf");
  TANDEM_CHECK(!requires_grad || is_floating(dtype()),
               "only Tensors of floating point dtype can require gradients");
  meta.requires_grad = requires_grad;
  return *this;
}

const Tensor& Tensor::grad() const {
  static const Tensor undefined;
  const auto& m = checked()->autograd;
  return m ? m->grad : undefined;
}

void Tensor::set_grad(const Tensor& grad) const {
  TANDEM_CHECK(!grad.defined() || grad.sizes() == sizes(), "assigned grad has shape ",
               shape_str(grad.sizes()), ", expected ", shape_str(sizes()));
  autograd_meta(*this).grad = grad;
}

void Tensor::retain_grad() const {
  auto& meta = autograd_meta(*this);
  TANDEM_CHECK(requires_grad(), "can't retain_grad on Tensor that has requires_grad=False");
  if (!meta.grad_fn || meta.retain_grad_hook >= 0) return;  // leaves keep .grad anyway
  std::weak_ptr<TensorImpl> weak = impl_;
  meta.retain_grad_hook = meta.grad_fn->add_pre_hook(meta.output_nr, [weak](const Tensor& g) {
    if (auto impl = weak.lock()) {
      auto& m = *impl->autograd;
      m.grad = m.grad.defined() ? m.grad + g : g.clone();
    }
    return Tensor();
  });
}

std::shared_ptr<autograd::Node> Tensor::grad_fn() const {
  const auto& m = checked()->autograd;
  return m ? m->grad_fn : nullptr;
}

uint32_t Tensor::output_nr() const {
  const auto& m = checked()->autograd;
  return m ? m->output_nr : 0;
}

bool Tensor::is_leaf() const { return grad_fn() == nullptr; }

void Tensor::backward(const Tensor& gradient, bool retain_graph) const {
  autograd::backward({*this}, {gradient}, retain_graph);
}

Tensor Tensor::detach() const { return make_view(*this, sizes(), strides(), storage_offset()); }

Tensor& Tensor::detach_() {
  auto& meta = autograd_meta(*this);
  meta.grad_fn.reset();
  meta.requires_grad = false;
  return *this;
}

int Tensor::register_hook(GradHook hook) const {
  TANDEM_CHECK(requires_grad(), "cannot register a hook on a tensor that doesn't require gradient");
  auto& meta = autograd_meta(*this);
  if (meta.grad_fn) return meta.grad_fn->add_pre_hook(meta.output_nr, std::move(hook));
  const int handle = autograd::next_hook_handle();
  meta.leaf_hooks.emplace(handle, std::move(hook));
  return handle;
}

void Tensor::remove_hook(int handle) const {
  auto& meta = autograd_meta(*this);
  if (meta.grad_fn) meta.grad_fn->remove_pre_hook(handle);
  meta.leaf_hooks.erase(handle);
  meta.post_accumulate_hooks.erase(handle);
}

int Tensor::register_post_accumulate_grad_hook(PostAccumulateHook hook) const {
  TANDEM_CHECK(is_leaf() && requires_grad(),
               "post accumulate grad hooks can only be registered on leaf tensors that require grad");
  const int handle = autograd::next_hook_handle();
  autograd_meta(*this).post_accumulate_hooks.emplace(handle, std::move(hook));
  return handle;
}

// --- views ------------------------------------------------------------------------------------

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
    TANDEM_CHECK(known == numel, "shape '", shape_str(shape), "' is invalid for input of size ", numel);
  }
  return out;
}

// Strides for viewing (sizes, strides) as `shape` without a copy, or empty if impossible
// (the chunk-matching rule of PyTorch's computeStride).
std::optional<Shape> view_strides(const Shape& sizes, const Shape& strides, const Shape& shape) {
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
  TANDEM_CHECK(st.has_value(), "view size is not compatible with input tensor's size and stride (at "
               "least one dimension spans across two contiguous subspaces). Use .reshape(...) instead.");
  return record_reshape_view("ViewBackward0", *this, make_view(*this, target, *st, storage_offset()));
}

Tensor Tensor::reshape(const Shape& shape) const {
  Shape target = infer_size(shape, numel());
  if (auto st = view_strides(sizes(), strides(), target))
    return record_reshape_view("ViewBackward0", *this, make_view(*this, target, *st, storage_offset()));
  return contiguous().view(target);
}

Tensor Tensor::flatten(int64_t start_dim, int64_t end_dim) const {
  if (dim() == 0) return reshape({1});
  start_dim = wrap_dim(start_dim, dim(), "flatten");
  end_dim = wrap_dim(end_dim, dim(), "flatten");
  TANDEM_CHECK(start_dim <= end_dim, "flatten() has invalid args: start_dim cannot come after end_dim");
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
  if (dim() == 0 || sizes()[d] != 1) return record_reshape_view("SqueezeBackward1", *this, detach());
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
  return record_reshape_view("UnsqueezeBackward0", *this, make_view(*this, sz, st, storage_offset()));
}

Tensor Tensor::transpose(int64_t d0, int64_t d1) const {
  d0 = wrap_dim(d0, dim(), "transpose");
  d1 = wrap_dim(d1, dim(), "transpose");
  Shape sz = sizes(), st = strides();
  std::swap(sz[d0], sz[d1]);
  std::swap(st[d0], st[d1]);
  Tensor out = make_view(*this, sz, st, storage_offset());
  autograd::record("TransposeBackward0", {*this}, {out}, {}, [d0, d1](const TensorList& g, const TensorList&) {
    return TensorList{g[0].transpose(d0, d1)};
  });
  return out;
}

Tensor Tensor::permute(const Shape& dims) const {
  TANDEM_CHECK(int64_t(dims.size()) == dim(), "permute: number of dims don't match in permute");
  Shape sz(dims.size()), st(dims.size()), inverse(dims.size());
  std::vector<bool> used(dims.size(), false);
  for (size_t i = 0; i < dims.size(); ++i) {
    const int64_t d = wrap_dim(dims[i], dim(), "permute");
    TANDEM_CHECK(!used[d], "permute: repeated dim in permute");
    used[d] = true;
    sz[i] = sizes()[d];
    st[i] = strides()[d];
    inverse[d] = int64_t(i);
  }
  Tensor out = make_view(*this, sz, st, storage_offset());
  autograd::record("PermuteBackward0", {*this}, {out}, {}, [inverse](const TensorList& g, const TensorList&) {
    return TensorList{g[0].permute(inverse)};
  });
  return out;
}

Tensor Tensor::slice(int64_t d, int64_t start, int64_t end, int64_t step) const {
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
                     Tensor grad = zeros(in_shape, g[0].dtype());
                     grad.slice(d, start, end, step).copy_(g[0]);
                     return TensorList{grad};
                   });
  return out;
}

Tensor Tensor::narrow(int64_t d, int64_t start, int64_t length) const {
  d = wrap_dim(d, dim(), "narrow");
  if (start < 0) start += sizes()[d];
  TANDEM_CHECK(start >= 0 && length >= 0 && start + length <= sizes()[d], "narrow: start (", start,
               ") + length (", length, ") exceeds dimension size (", sizes()[d], ")");
  return slice(d, start, start + length);
}

Tensor Tensor::select(int64_t d, int64_t index) const {
  d = wrap_dim(d, dim(), "select");
  const int64_t n = sizes()[d];
  TANDEM_CHECK(index >= -n && index < n, "select(): index ", index, " out of range for tensor of size ",
               shape_str(sizes()), " at dimension ", d);
  if (index < 0) index += n;
  Shape sz = sizes(), st = strides();
  sz.erase(sz.begin() + d);
  st.erase(st.begin() + d);
  Tensor out = make_view(*this, sz, st, storage_offset() + index * strides()[d]);
  Shape in_shape = sizes();
  autograd::record("SelectBackward0", {*this}, {out}, {}, [in_shape, d, index](const TensorList& g, const TensorList&) {
    Tensor grad = zeros(in_shape, g[0].dtype());
    grad.select(d, index).copy_(g[0]);
    return TensorList{grad};
  });
  return out;
}

Tensor Tensor::expand(const Shape& shape) const {
  TANDEM_CHECK(int64_t(shape.size()) >= dim(), "expand: the number of sizes provided (", shape.size(),
               ") must be greater or equal to the number of dimensions in the tensor (", dim(), ")");
  const int64_t lead = int64_t(shape.size()) - dim();
  Shape sz(shape.size()), st(shape.size());
  for (int64_t i = int64_t(shape.size()) - 1; i >= 0; --i) {
    const int64_t src = i - lead;
    if (src < 0) {
      TANDEM_CHECK(shape[i] >= 0, "expand: -1 not allowed in a leading, non-existing dimension");
      sz[i] = shape[i];
      st[i] = 0;
      continue;
    }
    const int64_t have = sizes()[src];
    const int64_t want = shape[i] == -1 ? have : shape[i];
    if (have == want) {
      sz[i] = have;
      st[i] = strides()[src];
    } else {
      TANDEM_CHECK(have == 1, "The expanded size of the tensor (", want, ") must match the existing size (",
                   have, ") at non-singleton dimension ", i, ".  Target sizes: ", shape_str(shape),
                   ".  Tensor sizes: ", shape_str(sizes()));
      sz[i] = want;
      st[i] = 0;
    }
  }
  Tensor out = make_view(*this, sz, st, storage_offset());
  Shape in_shape = sizes();
  autograd::record("ExpandBackward0", {*this}, {out}, {}, [in_shape](const TensorList& g, const TensorList&) {
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

// --- copies and conversion --------------------------------------------------------------------

namespace {

// dst[...] = convert(src[...]) for CPU tensors of the same shape (src already broadcast).
void copy_cpu(const Tensor& dst, const Tensor& src) {
  dispatch_all(src.dtype(), [&](auto src_tag) {
    using S = typename decltype(src_tag)::type;
    dispatch_all(dst.dtype(), [&](auto dst_tag) {
      using D = typename decltype(dst_tag)::type;
      kernels::cpu::convert<S, D>(dst.sizes(), static_cast<const S*>(src.raw_data()), src.strides(),
                                  static_cast<D*>(dst.raw_data()), dst.strides());
    });
  });
}

}  // namespace

Tensor& Tensor::copy_(const Tensor& src) {
  check_inplace(*this, "copy_");
  TANDEM_CHECK(!(GradMode::is_enabled() && src.requires_grad()),
               "copy_: copying from a tensor that requires grad is not recorded; use clone() or a NoGradGuard");
  if (numel() == 0) return *this;
  Tensor s = src.expand(sizes());
  if (device().is_cpu() && s.device().is_cpu()) {
    copy_cpu(*this, s);
  } else {
    // Across devices: make a contiguous host copy in the destination dtype, then move bytes.
    Tensor host = s.device().is_cpu() ? s : s.contiguous_on_host_();
    Tensor staged = empty(sizes(), TensorOptions(dtype()));
    copy_cpu(staged, host);
    if (device().is_cpu()) {
      copy_cpu(*this, staged);
    } else {
      TANDEM_CHECK(is_contiguous(), "copy_ into a non-contiguous CUDA tensor is not supported");
      kernels::cuda::copy_host_to_device(raw_data(), staged.raw_data(), nbytes(), device().index);
    }
  }
  bump_version();
  return *this;
}

Tensor Tensor::contiguous_on_host_() const {
  // A CUDA tensor's bytes on the host, as a contiguous CPU tensor of the same dtype.
  Tensor src = contiguous();
  Tensor host = empty(sizes(), TensorOptions(dtype()));
  kernels::cuda::copy_device_to_host(host.raw_data(), src.raw_data(), src.nbytes(), device().index);
  return host;
}

Tensor& Tensor::fill_(double value) {
  check_inplace(*this, "fill_");
  if (device().is_cpu()) {
    dispatch_all(dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      T v;
      if constexpr (std::is_same_v<T, Half>) v = kernels::float_to_half(float(value));
      else if constexpr (std::is_same_v<T, BFloat16>) v = kernels::float_to_bfloat16(float(value));
      else v = static_cast<T>(value);
      kernels::cpu::fill<T>(sizes(), static_cast<T*>(raw_data()), strides(), v);
    });
    bump_version();
  } else {
    copy_(full(sizes(), value, TensorOptions(dtype())));
  }
  return *this;
}

Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  return clone();
}

Tensor Tensor::clone() const {
  Tensor out = empty(sizes(), TensorOptions(dtype()).with_device(device()));
  {
    NoGradGuard no_grad;
    out.copy_(*this);
  }
  autograd::record("CloneBackward0", {*this}, {out}, {}, [](const TensorList& g, const TensorList&) {
    return TensorList{g[0]};
  });
  return out;
}

Tensor Tensor::to(DType dt) const { return to(device(), dt); }
Tensor Tensor::to(Device dev) const { return to(dev, dtype()); }

Tensor Tensor::to(Device dev, DType dt) const {
  if (dev == device() && dt == dtype()) return *this;
  Tensor out = empty(sizes(), TensorOptions(dt).with_device(dev));
  {
    NoGradGuard no_grad;
    out.copy_(*this);
  }
  if (is_floating(dt)) {
    const Device in_dev = device();
    const DType in_dt = dtype();
    autograd::record("ToCopyBackward0", {*this}, {out}, {}, [in_dev, in_dt](const TensorList& g, const TensorList&) {
      return TensorList{g[0].to(in_dev, in_dt)};
    });
  }
  return out;
}

// --- in-place arithmetic ----------------------------------------------------------------------

Tensor& Tensor::add_(const Tensor& other, double alpha) {
  check_inplace(*this, "add_");
  Tensor r;
  {
    NoGradGuard g;
    r = add(*this, other, alpha);
  }
  TANDEM_CHECK(r.sizes() == sizes(), "add_: output with shape ", shape_str(sizes()),
               " doesn't match the broadcast shape ", shape_str(r.sizes()));
  return copy_(r);
}

Tensor& Tensor::add_(double value) { return add_(scalar_tensor(value, TensorOptions(dtype()).with_device(device()))); }

Tensor& Tensor::mul_(const Tensor& other) {
  check_inplace(*this, "mul_");
  Tensor r;
  {
    NoGradGuard g;
    r = mul(*this, other);
  }
  TANDEM_CHECK(r.sizes() == sizes(), "mul_: output with shape ", shape_str(sizes()),
               " doesn't match the broadcast shape ", shape_str(r.sizes()));
  return copy_(r);
}

Tensor& Tensor::mul_(double value) { return mul_(scalar_tensor(value, TensorOptions(dtype()).with_device(device()))); }

Tensor& Tensor::clamp_(std::optional<double> min, std::optional<double> max) {
  check_inplace(*this, "clamp_");
  Tensor r;
  {
    NoGradGuard g;
    r = clamp(*this, min, max);
  }
  return copy_(r);
}

// --- op methods -------------------------------------------------------------------------------

Tensor Tensor::sum() const { return tandem::sum(*this); }
Tensor Tensor::sum(const Shape& dims, bool keepdim) const { return tandem::sum(*this, dims, keepdim); }
Tensor Tensor::mean() const { return tandem::mean(*this); }
Tensor Tensor::mean(const Shape& dims, bool keepdim) const { return tandem::mean(*this, dims, keepdim); }
Tensor Tensor::pow(double e) const { return tandem::pow(*this, e); }
Tensor Tensor::exp() const { return tandem::exp(*this); }
Tensor Tensor::log() const { return tandem::log(*this); }
Tensor Tensor::sqrt() const { return tandem::sqrt(*this); }
Tensor Tensor::abs() const { return tandem::abs(*this); }
Tensor Tensor::neg() const { return tandem::neg(*this); }
Tensor Tensor::argmax(int64_t d, bool keepdim) const { return tandem::argmax(*this, d, keepdim); }
Tensor Tensor::relu() const { return tandem::relu(*this); }
Tensor Tensor::sigmoid() const { return tandem::sigmoid(*this); }
Tensor Tensor::tanh() const { return tandem::tanh(*this); }
Tensor Tensor::matmul(const Tensor& other) const { return tandem::matmul(*this, other); }

// --- printing ---------------------------------------------------------------------------------

namespace {

void print_values(std::ostringstream& os, const std::vector<double>& v, const Shape& shape, size_t dim,
                  size_t& index, int indent, bool floating, bool boolean, int precision) {
  if (shape.empty()) {
    const double x = v[index++];
    if (boolean) os << (x != 0 ? "True" : "False");
    else if (floating) os << std::fixed << std::setprecision(precision) << x;
    else os << int64_t(x);
    return;
  }
  os << "[";
  const int64_t n = shape[dim];
  for (int64_t i = 0; i < n; ++i) {
    if (i > 0) {
      os << ",";
      if (dim + 1 < shape.size()) os << "\n" << std::string(indent + dim + 1, ' ');
      else os << " ";
    }
    if (dim + 1 == shape.size()) {
      const double x = v[index++];
      if (boolean) os << (x != 0 ? "True" : "False");
      else if (floating) os << std::fixed << std::setprecision(precision) << x;
      else os << int64_t(x);
    } else {
      print_values(os, v, shape, dim + 1, index, indent, floating, boolean, precision);
    }
  }
  os << "]";
}

}  // namespace

std::string Tensor::str() const {
  if (!defined()) return "tensor(undefined)";
  std::ostringstream os;
  os << "tensor(";
  std::vector<double> v = to_vector();
  size_t index = 0;
  const bool floating = is_floating(dtype());
  print_values(os, v, sizes(), 0, index, 7, floating, dtype() == DType::Bool, 4);
  if (!is_cpu_default_dtype()) os << ", dtype=torch." << dtype_name(dtype());
  if (device().is_cuda()) os << ", device='" << device().str() << "'";
  if (auto fn = grad_fn()) os << ", grad_fn=<" << fn->name() << ">";
  else if (requires_grad()) os << ", requires_grad=True";
  os << ")";
  return os.str();
}

bool Tensor::is_cpu_default_dtype() const { return dtype() == DType::Float32 || dtype() == DType::Int64; }

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << t.str(); }

// --- operators --------------------------------------------------------------------------------

namespace {
Tensor scalar_like(const Tensor& t, double v) {
  return scalar_tensor(v, TensorOptions(t.dtype()).with_device(t.device()));
}
}  // namespace

Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator-(const Tensor& a) { return neg(a); }
Tensor operator+(const Tensor& a, double b) { return add(a, scalar_like(a, b)); }
Tensor operator-(const Tensor& a, double b) { return sub(a, scalar_like(a, b)); }
Tensor operator*(const Tensor& a, double b) { return mul(a, scalar_like(a, b)); }
Tensor operator/(const Tensor& a, double b) { return div(a, scalar_like(a, b)); }
Tensor operator+(double a, const Tensor& b) { return add(scalar_like(b, a), b); }
Tensor operator-(double a, const Tensor& b) { return sub(scalar_like(b, a), b); }
Tensor operator*(double a, const Tensor& b) { return mul(scalar_like(b, a), b); }
Tensor operator/(double a, const Tensor& b) { return div(scalar_like(b, a), b); }

}  // namespace tandem
