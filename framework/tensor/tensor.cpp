// Tensor metadata, element access, autograd accessors, op methods and operators. Views are in
// tensor_views.cpp, copies and in-place ops in tensor_copy.cpp, printing in tensor_print.cpp.
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
#include "framework/ops/activation.h"
#include "framework/ops/elementwise.h"
#include "framework/ops/linalg.h"
#include "framework/ops/reduction.h"
#include "framework/ops/scalar_type.h"
#include "framework/tensor/factories.h"

namespace tandem {

using autograd::autograd_meta;
using autograd::TensorList;

TensorImpl::TensorImpl(Storage s, Shape sz, Shape st, int64_t off, DType dt)
    : storage(std::move(s)), sizes(std::move(sz)), strides(std::move(st)), offset(off), dtype(dt) {}
TensorImpl::~TensorImpl() = default;

// --- helpers ----------------------------------------------------------------------------------

int64_t wrap_dim(int64_t dim, int64_t ndim, const char* op) {
  const int64_t n = std::max<int64_t>(ndim, 1);  // 0-dim tensors accept dim 0 and -1
  if (dim < -n || dim >= n)                      // PyTorch's words; the op goes into the hint
    throw Error("Dimension out of range (expected to be in range of [" + std::to_string(-n) + ", " +
                    std::to_string(n - 1) + "], but got " + std::to_string(dim) + ")",
                std::string("in ") + op);
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

// --- metadata ---------------------------------------------------------------------------------

int64_t Tensor::size(int64_t dim) const { return sizes()[wrap_dim(dim, this->dim(), "size")]; }
int64_t Tensor::stride(int64_t dim) const {
  return strides()[wrap_dim(dim, this->dim(), "stride")];
}
int64_t Tensor::numel() const { return shape_numel(sizes()); }

bool Tensor::is_contiguous() const {
  if (numel() == 0) return true;  // as PyTorch: no element is out of place (strides of (4, 0) vary)
  int64_t expected = 1;
  for (int64_t d = dim() - 1; d >= 0; --d) {
    if (sizes()[d] == 1) continue;
    if (strides()[d] != expected) return false;
    expected *= sizes()[d];
  }
  return true;
}

TensorOptions Tensor::options() const { return TensorOptions(dtype()).with_device(device()); }

void* Tensor::raw_data() const {
  return static_cast<char*>(storage()->data()) + storage_offset() * int64_t(element_size());
}

double Tensor::item() const {
  TANDEM_CHECK(numel() == 1, "a Tensor with ", numel(), " elements cannot be converted to Scalar");
  const Tensor c = is_cuda() ? cpu() : *this;  // device memory is read through a copy
  return dispatch_all(dtype(), [&](auto tag) -> double {
    using T = typename decltype(tag)::type;
    const T v = *static_cast<const T*>(c.raw_data());
    if constexpr (std::is_same_v<T, Half>)
      return kernels::half_to_float(v);
    else if constexpr (std::is_same_v<T, BFloat16>)
      return kernels::bfloat16_to_float(v);
    else
      return double(v);
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
  if (meta.grad_fn) {
    if (requires_grad) return *this;  // a computed tensor requires grad already (PyTorch: no-op)
    throw Error(
        "you can only change requires_grad flags of leaf variables. If you want to use a computed "
        "variable in a subgraph that doesn't require differentiation use var_no_grad = "
        "var.detach().",
        "call detach() first to get a leaf");
  }
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
  if (grad.defined()) {  // PyTorch's checks, in its order and words
    TANDEM_CHECK(!grad.is_same(*this), "can't assign Variable as its own grad");
    TANDEM_CHECK(grad.dtype() == dtype() && grad.device().type == device().type,
                 "assigned grad has data of a different type");
    TANDEM_CHECK(grad.device() == device(), "assigned grad has data located on a different device");
    TANDEM_CHECK(grad.sizes() == sizes(), "assigned grad has data of a different size");
  }
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
  TANDEM_CHECK(
      is_leaf() && requires_grad(),
      "post accumulate grad hooks can only be registered on leaf tensors that require grad");
  const int handle = autograd::next_hook_handle();
  autograd_meta(*this).post_accumulate_hooks.emplace(handle, std::move(hook));
  return handle;
}

// --- op methods -------------------------------------------------------------------------------

Tensor Tensor::sum() const { return tandem::sum(*this); }
Tensor Tensor::sum(const Shape& dims, bool keepdim) const {
  return tandem::sum(*this, dims, keepdim);
}
Tensor Tensor::mean() const { return tandem::mean(*this); }
Tensor Tensor::mean(const Shape& dims, bool keepdim) const {
  return tandem::mean(*this, dims, keepdim);
}
Tensor Tensor::pow(double e) const { return tandem::pow(*this, e); }
Tensor Tensor::exp() const { return tandem::exp(*this); }
Tensor Tensor::log() const { return tandem::log(*this); }
Tensor Tensor::sqrt() const { return tandem::sqrt(*this); }
Tensor Tensor::abs() const { return tandem::abs(*this); }
Tensor Tensor::neg() const { return tandem::neg(*this); }
Tensor Tensor::argmax(int64_t d, bool keepdim) const { return tandem::argmax(*this, d, keepdim); }
Tensor Tensor::max() const { return tandem::max(*this); }
Tensor Tensor::min() const { return tandem::min(*this); }
Tensor Tensor::relu() const { return tandem::relu(*this); }
Tensor Tensor::sigmoid() const { return tandem::sigmoid(*this); }
Tensor Tensor::tanh() const { return tandem::tanh(*this); }
Tensor Tensor::matmul(const Tensor& other) const { return tandem::matmul(*this, other); }

// --- operators --------------------------------------------------------------------------------

namespace {
// A Python float next to t: t's dtype when floating, else float32 (the default dtype).
Tensor scalar_like(const Tensor& t, double v) {
  const DType dt = ops_detail::python_float_type(t.dtype());
  return scalar_tensor(v, TensorOptions(dt).with_device(t.device()));
}
}  // namespace

Tensor integer_scalar_like(const Tensor& t, int64_t v) {
  const DType dt = ops_detail::python_int_type(t.dtype());
  return scalar_tensor(double(v), TensorOptions(dt).with_device(t.device()));
}

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
