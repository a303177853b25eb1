// Copies, conversion and in-place arithmetic. Everything here writes through the kernel table
// into the tensor's own memory (no compute-then-copy-back). Copies between devices move the
// bytes of a contiguous tensor in one dtype with the device runtime, converting and
// (un)striding on whichever side holds the data:
//   host -> device: strided/converted on the host into a staging tensor, one transfer, then a
//                   device copy kernel if the destination is strided;
//   device -> host: made contiguous on the device, one transfer (the stream is synchronised
//                   before the host reads), converted on the host if needed;
//   device -> another device: made contiguous on the source device, one peer transfer, then
//                   converted/strided on the destination device.
#include "framework/autograd/grad_mode.h"
#include "framework/autograd/node.h"
#include "framework/ops/elementwise.h"
#include "framework/ops/elementwise_kernels.h"
#include "framework/ops/scalar_type.h"
#include "framework/tensor/factories.h"
#include "framework/tensor/kernel_args.h"
#include "framework/tensor/tensor.h"
#include "kernels/device/host_allocator.h"
#include "kernels/kernel_table.h"

namespace tandem {

using autograd::TensorList;
using kernels::BinaryOp;
using kernels::OpParams;
using kernels::UnaryOp;
namespace dev = kernels::device;

namespace {

// Refuses in-place changes that would silently bypass autograd.
void check_inplace(const Tensor& t, const char* op) {
  if (!GradMode::is_enabled() || !t.requires_grad()) return;
  if (t.is_leaf())
    throw Error("a leaf Variable that requires grad is being used in an in-place operation.",
                std::string(op) + ": wrap the update in tandem::NoGradGuard");
  throw Error(
      std::string(op) + ": in-place operations on tensors that require grad are not supported",
      "use the out-of-place form");
}

// dst = src (converted to dst's dtype) for two tensors on one device, src already broadcast.
void copy_on_device(const Tensor& dst, const Tensor& src) {
  kernels::copy(kernel_context(dst), dst.sizes(), strided(dst), strided(src));
}

// The bytes of `src` into `dst`: both contiguous, same dtype and size, one on a CUDA device.
void transfer(const Tensor& dst, const Tensor& src) {
  const Tensor& on_device = dst.is_cuda() ? dst : src;
  const int index = on_device.device().index;
  const kernels::KernelContext ctx = kernel_context(on_device);
  dev::DeviceRuntime& rt = dev::cuda_runtime();
  if (src.is_cpu()) {
    rt.memcpy_async(dst.raw_data(), src.raw_data(), src.nbytes(), dev::CopyKind::HostToDevice,
                    ctx.stream);
    // Pinned memory is read asynchronously: its reuse must wait for the copy. (Pageable memory
    // is staged by the runtime before the call returns.)
    if (src.is_pinned())
      dev::pinned_host_allocator().record_use(src.storage()->data(), ctx.stream, index);
  } else {
    rt.memcpy_async(dst.raw_data(), src.raw_data(), src.nbytes(), dev::CopyKind::DeviceToHost,
                    ctx.stream);
    rt.synchronize_stream(ctx.stream);  // the host reads dst next
  }
}

// A contiguous tensor with `src`'s values in `dtype` on src's device: src itself when it already
// is one.
Tensor contiguous_in(const Tensor& src, DType dtype) {
  if (src.is_contiguous() && src.dtype() == dtype) return src;
  Tensor out = empty(src.sizes(), TensorOptions(dtype).with_device(src.device()));
  copy_on_device(out, src);
  return out;
}

void copy_host_to_device(const Tensor& dst, const Tensor& src) {
  const Tensor staged = contiguous_in(src, dst.dtype());
  if (dst.is_contiguous()) {
    transfer(dst, staged);
    return;
  }
  const Tensor on_device = empty(dst.sizes(), dst.options());
  transfer(on_device, staged);
  copy_on_device(dst, on_device);
}

void copy_device_to_host(const Tensor& dst, const Tensor& src) {
  const Tensor packed = contiguous_in(src, src.dtype());
  if (dst.is_contiguous() && dst.dtype() == src.dtype()) {
    transfer(dst, packed);
    return;
  }
  const Tensor host = empty(src.sizes(), TensorOptions(src.dtype()));
  transfer(host, packed);
  copy_on_device(dst, host);
}

void copy_between_devices(const Tensor& dst, const Tensor& src) {
  const Tensor packed = contiguous_in(src, src.dtype());
  // The source's queued work must finish before the destination's stream reads its memory.
  dev::synchronize(src.device().index);
  const Tensor landed = dst.is_contiguous() && dst.dtype() == src.dtype()
                            ? dst
                            : empty(src.sizes(), TensorOptions(src.dtype(), dst.device()));
  const kernels::KernelContext ctx = kernel_context(dst);
  dev::cuda_runtime().memcpy_peer_async(landed.raw_data(), dst.device().index, packed.raw_data(),
                                        src.device().index, packed.nbytes(), ctx.stream);
  // Rare enough to be simple: wait, so the source (and its staging copy) may be freed at once.
  dev::cuda_runtime().synchronize_stream(ctx.stream);
  if (!landed.is_same(dst)) copy_on_device(dst, landed);
}

OpParams scalar_param(double value) {
  OpParams p;
  p.alpha = value;
  return p;
}

// self = op(self, other) in self's memory; `other` broadcasts to self's shape and is converted
// to self's dtype first.
Tensor& inplace_binary(Tensor& self, const Tensor& other, BinaryOp op, const OpParams& params,
                       const char* name) {
  check_inplace(self, name);
  // PyTorch would record self = op(self, other) and give `other` its gradient; tandem records no
  // in-place op, so it refuses rather than drop that gradient silently.
  TANDEM_CHECK(!(GradMode::is_enabled() && other.requires_grad()), name,
               ": the operand requires grad, and in-place ops are not recorded; use the "
               "out-of-place form (x = x + y) or a NoGradGuard");
  check_same_device(name, {&self, &other});
  const Shape shape = broadcast_shapes(self.sizes(), other.sizes());
  TANDEM_CHECK(shape == self.sizes(), name, ": output with shape ", shape_str(self.sizes()),
               " doesn't match the broadcast shape ", shape_str(shape));
  // As PyTorch: the op's result type must fit self (no float result into an integer tensor).
  const DType result = ops_detail::result_type(self, other);
  ops_detail::check_result_fits(result, self.dtype());
  ops_detail::check_integral_alpha(result, params.alpha);
  Tensor b;
  {
    NoGradGuard no_grad;
    b = other.dtype() == self.dtype() ? other : other.to(self.dtype());
  }
  kernels::binary(kernel_context(self), op, params, self.sizes(), strided(self), strided(self),
                  strided_as(b, self.sizes()));
  self.bump_version();
  return self;
}

Tensor& inplace_unary(Tensor& self, UnaryOp op, const OpParams& params, const char* name) {
  check_inplace(self, name);
  kernels::unary(kernel_context(self), op, params, self.sizes(), strided(self), strided(self));
  self.bump_version();
  return self;
}

}  // namespace

// --- copies and conversion --------------------------------------------------------------------

Tensor& Tensor::copy_(const Tensor& src) {
  check_inplace(*this, "copy_");
  TANDEM_CHECK(!(GradMode::is_enabled() && src.requires_grad()),
               "copy_: copying from a tensor that requires grad is not recorded; use clone() or "
               "a NoGradGuard");
  if (numel() == 0) return *this;
  const Tensor s = src.expand(sizes());
  if (s.device() == device()) {
    copy_on_device(*this, s);
  } else if (s.is_cpu()) {
    copy_host_to_device(*this, s);
  } else if (is_cpu()) {
    copy_device_to_host(*this, s);
  } else {
    copy_between_devices(*this, s);
  }
  bump_version();
  return *this;
}

Tensor& Tensor::fill_(double value) {
  check_inplace(*this, "fill_");
  kernels::fill(kernel_context(*this), sizes(), strided(*this),
                ops_detail::checked_scalar(value, dtype()));
  bump_version();
  return *this;
}

Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  return clone();
}

Tensor Tensor::clone() const {
  Tensor out = empty(sizes(), options());
  {
    NoGradGuard no_grad;
    out.copy_(*this);
  }
  autograd::record("CloneBackward0", {*this}, {out}, {},
                   [](const TensorList& g, const TensorList&) { return TensorList{g[0]}; });
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
    autograd::record("ToCopyBackward0", {*this}, {out}, {},
                     [in_dev, in_dt](const TensorList& g, const TensorList&) {
                       return TensorList{g[0].to(in_dev, in_dt)};
                     });
  }
  return out;
}

void Tensor::record_stream(void* stream) const { storage()->record_stream(stream); }

// --- in-place arithmetic ----------------------------------------------------------------------
// A scalar meets a float16/bfloat16 tensor rounded to its type, as in the operators (x * 0.1).

Tensor& Tensor::add_(const Tensor& other, double alpha) {
  return inplace_binary(*this, other, BinaryOp::Add, scalar_param(alpha), "add_");
}

namespace {
// self = op(self, scalar), where the scalar is a Python number whose result has dtype `result`
// (ops_detail::python_float_type / python_int_type), which self must be able to hold.
Tensor& inplace_scalar(Tensor& self, UnaryOp op, double value, DType result, const char* name) {
  ops_detail::check_result_fits(result, self.dtype());
  return inplace_unary(self, op, scalar_param(ops_detail::scalar_in(self.dtype(), value)), name);
}
}  // namespace

Tensor& Tensor::add_(double value) {
  return inplace_scalar(*this, UnaryOp::AddScalar, value, ops_detail::python_float_type(dtype()),
                        "add_");
}

Tensor& Tensor::add_integer_(int64_t value) {
  return inplace_scalar(*this, UnaryOp::AddScalar, double(value),
                        ops_detail::python_int_type(dtype()), "add_");
}

Tensor& Tensor::mul_integer_(int64_t value) {
  return inplace_scalar(*this, UnaryOp::MulScalar, double(value),
                        ops_detail::python_int_type(dtype()), "mul_");
}

Tensor& Tensor::mul_(const Tensor& other) {
  return inplace_binary(*this, other, BinaryOp::Mul, {}, "mul_");
}

Tensor& Tensor::mul_(double value) {
  return inplace_scalar(*this, UnaryOp::MulScalar, value, ops_detail::python_float_type(dtype()),
                        "mul_");
}

Tensor& Tensor::div_(double value) {
  // A true division's result is floating, which an integer tensor cannot hold (as PyTorch).
  return inplace_scalar(*this, UnaryOp::DivScalar, value, ops_detail::python_float_type(dtype()),
                        "div_");
}

Tensor& Tensor::clamp_(std::optional<double> min, std::optional<double> max) {
  // A fractional bound makes the result floating (see clamp), which this tensor cannot hold.
  ops_detail::check_result_fits(
      ops_detail::clamp_needs_float(min, max) ? ops_detail::python_float_type(dtype()) : dtype(),
      dtype());
  return inplace_unary(*this, UnaryOp::Clamp, ops_detail::clamp_params(min, max, dtype(), "clamp_"),
                       "clamp_");
}

}  // namespace tandem
