// Tensor: a reference-counted handle to a TensorImpl (like torch::Tensor). Copying a Tensor
// aliases it; clone() copies the data. A TensorImpl is a strided view (sizes, strides, offset)
// into a Storage, plus optional autograd metadata (requires_grad, .grad, grad_fn, hooks).
//
//   Tensor x = tandem::randn({2, 3}, gen).set_requires_grad(true);
//   Tensor y = (x * x).sum();
//   y.backward();            // x.grad() == 2 * x
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "framework/tensor/storage.h"
#include "framework/tensor/tensor_options.h"
#include "kernels/common/device.h"
#include "kernels/common/dtype.h"
#include "kernels/common/error.h"
#include "kernels/dispatch.h"

namespace tandem {

// Sizes, strides and dim lists: the kernels' Dims, inline up to 5 dims, so making a tensor or a
// view allocates nothing for its geometry.
using Shape = kernels::Dims;

namespace autograd {
class Node;
struct AutogradMeta;
}  // namespace autograd

struct TensorImpl {
  Storage storage;
  Shape sizes;
  Shape strides;       // in elements
  int64_t offset = 0;  // in elements
  DType dtype = DType::Float32;
  std::unique_ptr<autograd::AutogradMeta> autograd;  // null until autograd touches the tensor

  TensorImpl(Storage s, Shape sz, Shape st, int64_t off, DType dt);
  ~TensorImpl();
};

class Tensor {
 public:
  Tensor() = default;  // undefined
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  bool defined() const { return impl_ != nullptr; }
  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  bool is_same(const Tensor& other) const { return impl_ == other.impl_; }

  // --- metadata -------------------------------------------------------------------------------
  const Shape& sizes() const { return checked()->sizes; }
  const Shape& shape() const { return sizes(); }
  int64_t size(int64_t dim) const;  // negative dims count from the end
  const Shape& strides() const { return checked()->strides; }
  int64_t stride(int64_t dim) const;
  int64_t dim() const { return int64_t(sizes().size()); }
  int64_t numel() const;
  DType dtype() const { return checked()->dtype; }
  Device device() const { return checked()->storage->device(); }
  const Storage& storage() const { return checked()->storage; }
  int64_t storage_offset() const { return checked()->offset; }
  size_t element_size() const { return tandem::element_size(dtype()); }
  size_t nbytes() const { return size_t(numel()) * element_size(); }
  bool is_contiguous() const;
  bool is_cuda() const { return device().is_cuda(); }
  bool is_cpu() const { return device().is_cpu(); }
  TensorOptions options() const;  // dtype and device, for outputs made like this tensor
  bool is_pinned() const { return storage()->is_pinned(); }  // page-locked CPU memory

  // --- data -----------------------------------------------------------------------------------
  // Address of element 0 (storage base + offset). For a CUDA tensor this is a device address:
  // host code must not read it (it crashes on a GPU and on the emulated device alike).
  void* raw_data() const;
  template <typename T>
  T* data_ptr() const {
    TANDEM_CHECK(dtype() == dtype_of<T>::value, "data_ptr: tensor is ", dtype_name(dtype()),
                 ", requested ", dtype_name(dtype_of<T>::value));
    return static_cast<T*>(raw_data());
  }
  double item() const;  // a one-element tensor's value, as double (copied from a device)
  template <typename T>
  T item() const {
    return static_cast<T>(item());
  }
  std::vector<double> to_vector() const;  // all elements in row-major order, as double

  // --- autograd -------------------------------------------------------------------------------
  bool requires_grad() const;
  Tensor& set_requires_grad(bool requires_grad = true);  // only on leaves
  Tensor& requires_grad_(bool requires_grad = true) { return set_requires_grad(requires_grad); }
  const Tensor& grad() const;  // undefined when no gradient has been accumulated
  void set_grad(const Tensor& grad) const;
  void retain_grad() const;  // keep .grad on a non-leaf, as PyTorch's retain_grad()
  std::shared_ptr<autograd::Node> grad_fn() const;
  uint32_t output_nr() const;
  bool is_leaf() const;
  void backward(const Tensor& gradient = {}, bool retain_graph = false) const;
  Tensor detach() const;  // shares storage, no history
  Tensor& detach_();
  // A hook on the gradient flowing into this tensor; it may return a replacement (or undefined
  // to keep the gradient). Returns a handle for remove_hook.
  using GradHook = std::function<Tensor(const Tensor&)>;
  int register_hook(GradHook hook) const;
  void remove_hook(int handle) const;
  // Runs after the gradient of this leaf has been accumulated into .grad (the DDP Reducer's
  // readiness signal), as torch.Tensor.register_post_accumulate_grad_hook.
  using PostAccumulateHook = std::function<void(const Tensor&)>;
  int register_post_accumulate_grad_hook(PostAccumulateHook hook) const;
  void bump_version() const { storage()->bump_version(); }
  uint32_t version() const { return storage()->version(); }

  // --- views (share storage) ------------------------------------------------------------------
  Tensor view(const Shape& shape) const;     // one dim may be -1; needs compatible strides
  Tensor reshape(const Shape& shape) const;  // a view when possible, else a copy
  Tensor flatten(int64_t start_dim = 0, int64_t end_dim = -1) const;
  Tensor squeeze() const;
  Tensor squeeze(int64_t dim) const;
  Tensor unsqueeze(int64_t dim) const;
  Tensor transpose(int64_t dim0, int64_t dim1) const;
  Tensor t() const;  // 0-D and 1-D: itself; 2-D: transpose(0, 1); more: PyTorch's error
  Tensor permute(const Shape& dims) const;
  Tensor narrow(int64_t dim, int64_t start, int64_t length) const;
  Tensor slice(int64_t dim, int64_t start, int64_t end, int64_t step = 1) const;
  Tensor select(int64_t dim, int64_t index) const;
  Tensor operator[](int64_t index) const { return select(0, index); }
  Tensor expand(const Shape& shape) const;  // -1 keeps a size
  Tensor expand_as(const Tensor& other) const { return expand(other.sizes()); }
  Tensor as_strided(const Shape& sizes, const Shape& strides, int64_t offset) const;

  // --- copies and conversion ------------------------------------------------------------------
  Tensor contiguous() const;
  Tensor clone() const;
  Tensor to(DType dtype) const;
  Tensor to(Device device) const;
  Tensor to(Device device, DType dtype) const;
  Tensor cpu() const { return to(kCPU); }
  // This tensor's device memory is also used on `stream` (see StorageImpl::record_stream).
  void record_stream(void* stream) const;

  // --- in-place: written into this tensor's memory; bump the version; refused on tensors that
  // need grad while grad mode is on ----------------------------------------------------------
  Tensor& copy_(const Tensor& src);  // broadcasts src, converts dtype and device
  Tensor& fill_(double value);
  Tensor& zero_() { return fill_(0.0); }
  Tensor& add_(const Tensor& other, double alpha = 1.0);
  // A double is a Python float: refused on an integer or bool tensor, whose dtype cannot hold the
  // float result (PyTorch's "result type Float can't be cast to the desired output type Long");
  // an integer is a Python int.
  Tensor& add_(double value);
  template <class S, std::enable_if_t<std::is_integral_v<S>, int> = 0>
  Tensor& add_(S value) {
    return add_integer_(int64_t(value));
  }
  Tensor& sub_(const Tensor& other, double alpha = 1.0) { return add_(other, -alpha); }
  Tensor& mul_(const Tensor& other);
  Tensor& mul_(double value);
  template <class S, std::enable_if_t<std::is_integral_v<S>, int> = 0>
  Tensor& mul_(S value) {
    return mul_integer_(int64_t(value));
  }
  Tensor& div_(double value);  // x / value, not x * (1 / value): the bits PyTorch's div_ gives
  Tensor& clamp_(std::optional<double> min, std::optional<double> max);
  Tensor& add_integer_(int64_t value);
  Tensor& mul_integer_(int64_t value);

  // --- common ops as methods (see framework/ops/*.h for the full list) ------------------------
  Tensor sum() const;
  Tensor sum(const Shape& dims, bool keepdim = false) const;
  Tensor mean() const;
  Tensor mean(const Shape& dims, bool keepdim = false) const;
  Tensor pow(double exponent) const;
  Tensor exp() const;
  Tensor log() const;
  Tensor sqrt() const;
  Tensor abs() const;
  Tensor neg() const;
  Tensor relu() const;
  Tensor sigmoid() const;
  Tensor tanh() const;
  Tensor matmul(const Tensor& other) const;
  Tensor argmax(int64_t dim, bool keepdim = false) const;
  Tensor max() const;  // of all elements, a 0-dim tensor (tandem::max with a dim gives indices)
  Tensor min() const;

  std::string str() const;  // PyTorch-like print: tensor([[1.0000, 2.0000]], requires_grad=True)

 private:
  bool is_cpu_default_dtype() const;
  TensorImpl* checked() const {
    TANDEM_CHECK(impl_ != nullptr, "operation on an undefined tensor");
    return impl_.get();
  }
  std::shared_ptr<TensorImpl> impl_;
};

std::ostream& operator<<(std::ostream& os, const Tensor& t);
std::string shape_str(const Shape& shape);       // "[2, 3]"
std::string torch_size_str(const Shape& shape);  // "torch.Size([2, 3])", as PyTorch prints it

// A tensor sharing `base`'s storage with the given geometry, without autograd history or bounds
// checks (the views in tensor_views.cpp check their own geometry).
Tensor make_view(const Tensor& base, Shape sizes, Shape strides, int64_t offset);

// Normalises a possibly negative dim against `ndim` (error names the op and the range).
int64_t wrap_dim(int64_t dim, int64_t ndim, const char* op = "dim");
int64_t shape_numel(const Shape& shape);
Shape contiguous_strides(const Shape& shape);

// Arithmetic operators (differentiable). A scalar is promoted as PyTorch promotes a Python
// number: a double is a Python float (`x * 0.5` keeps a floating x's dtype, and makes an integer
// or bool x float32, the default dtype), an integer a Python int (`x * 2` keeps x's dtype; a bool
// x becomes int64).
Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a);
Tensor operator+(const Tensor& a, double b);
Tensor operator-(const Tensor& a, double b);
Tensor operator*(const Tensor& a, double b);
Tensor operator/(const Tensor& a, double b);
Tensor operator+(double a, const Tensor& b);
Tensor operator-(double a, const Tensor& b);
Tensor operator*(double a, const Tensor& b);
Tensor operator/(double a, const Tensor& b);
// The 0-dim tensor an integer scalar becomes next to `t` (t's dtype; int64 next to bool).
Tensor integer_scalar_like(const Tensor& t, int64_t v);
template <class S, std::enable_if_t<std::is_integral_v<S>, int> = 0>
Tensor operator+(const Tensor& a, S b) {
  return a + integer_scalar_like(a, int64_t(b));
}
template <class S, std::enable_if_t<std::is_integral_v<S>, int> = 0>
Tensor operator-(const Tensor& a, S b) {
  return a - integer_scalar_like(a, int64_t(b));
}
template <class S, std::enable_if_t<std::is_integral_v<S>, int> = 0>
Tensor operator*(const Tensor& a, S b) {
  return a * integer_scalar_like(a, int64_t(b));
}
template <class S, std::enable_if_t<std::is_integral_v<S>, int> = 0>
Tensor operator/(const Tensor& a, S b) {
  return a / integer_scalar_like(a, int64_t(b));
}
template <class S, std::enable_if_t<std::is_integral_v<S>, int> = 0>
Tensor operator+(S a, const Tensor& b) {
  return integer_scalar_like(b, int64_t(a)) + b;
}
template <class S, std::enable_if_t<std::is_integral_v<S>, int> = 0>
Tensor operator-(S a, const Tensor& b) {
  return integer_scalar_like(b, int64_t(a)) - b;
}
template <class S, std::enable_if_t<std::is_integral_v<S>, int> = 0>
Tensor operator*(S a, const Tensor& b) {
  return integer_scalar_like(b, int64_t(a)) * b;
}
template <class S, std::enable_if_t<std::is_integral_v<S>, int> = 0>
Tensor operator/(S a, const Tensor& b) {
  return integer_scalar_like(b, int64_t(a)) / b;
}

}  // namespace tandem
