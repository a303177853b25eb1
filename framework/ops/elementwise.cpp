// Broadcasting elementwise ops: shape/dtype/device checks here, arithmetic in the kernel table's
// elementwise families (whose backends share kernels/common/elementwise_functors.h), and each
// op's backward next to its forward.
#include "framework/ops/elementwise.h"

#include <cmath>

#include "framework/autograd/grad_mode.h"
#include "framework/autograd/node.h"
#include "framework/core/warning.h"
#include "framework/ops/autocast.h"
#include "framework/ops/elementwise_kernels.h"
#include "framework/ops/reduction.h"
#include "framework/ops/scalar_type.h"
#include "framework/tensor/factories.h"
#include "framework/tensor/kernel_args.h"
#include "kernels/kernel_table.h"

namespace tandem {

using autograd::record;
using autograd::TensorList;
using kernels::BinaryOp;
using kernels::CompareOp;
using kernels::OpParams;
using kernels::UnaryOp;

Shape broadcast_shapes(const Shape& a, const Shape& b) {
  const size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    const int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    const int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    TANDEM_CHECK(da == db || da == 1 || db == 1, "The size of tensor a (", da,
                 ") must match the size of tensor b (", db, ") at non-singleton dimension ", i,
                 " (shapes ", shape_str(a), " and ", shape_str(b), ")");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

// The launchers activation.cpp shares (see elementwise_kernels.h).
namespace ops_detail {

Tensor run_unary(const Tensor& x, UnaryOp op, const OpParams& params, const char* name) {
  // Every type but bool reaches the kernel (uint8 included: neg wraps, clamp and relu work, as
  // PyTorch's); the ops PyTorch refuses for integers refuse them before this.
  const DType t = x.dtype();
  if (t == DType::Bool) throw_not_arithmetic(name, t);
  Tensor out = empty(x.sizes(), x.options());
  kernels::unary(kernel_context(x), op, params, x.sizes(), strided(out), strided(x));
  return out;
}

Tensor run_binary(const Tensor& a_in, const Tensor& b_in, BinaryOp op, const OpParams& params,
                  const char* name) {
  check_same_device(name, {&a_in, &b_in});
  const DType dt = result_type(a_in, b_in);
  if (dt == DType::Bool) {
    // Two bool tensors, as PyTorch: + is or, * is and, maximum and minimum likewise; computed on
    // bytes, any non-zero is true.
    TANDEM_CHECK(op != BinaryOp::Sub,
                 "Subtraction, the `-` operator, with two bool tensors is not supported. Use the "
                 "`^` or `logical_xor()` operator instead.");
    if (op == BinaryOp::Add || op == BinaryOp::Mul || op == BinaryOp::Maximum ||
        op == BinaryOp::Minimum)
      return run_binary(a_in.to(DType::UInt8), b_in.to(DType::UInt8), op, params, name)
          .to(DType::Bool);
  }
  dispatch_arithmetic_or_half(dt, name, [](auto) {});  // a clear error for bool before any work
  const Tensor a = a_in.dtype() == dt ? a_in : a_in.to(dt);
  const Tensor b = b_in.dtype() == dt ? b_in : b_in.to(dt);
  const Shape shape = broadcast_shapes(a.sizes(), b.sizes());
  Tensor out = empty(shape, a.options());
  kernels::binary(kernel_context(a), op, params, shape, strided(out), strided_as(a, shape),
                  strided_as(b, shape));
  return out;
}

Tensor to_floating(const Tensor& x) { return is_floating(x.dtype()) ? x : x.to(DType::Float32); }

bool clamp_needs_float(std::optional<double> min, std::optional<double> max) {
  auto fractional = [](std::optional<double> v) { return v && *v != std::trunc(*v); };
  return fractional(min) || fractional(max);
}

void check_integral_alpha(DType result, double alpha) {
  TANDEM_CHECK(is_floating(result) || alpha == std::trunc(alpha),
               "For integral input tensors, argument alpha must not be a floating point number.");
}

OpParams clamp_params(std::optional<double> min, std::optional<double> max, DType t,
                      const char* op) {
  TANDEM_CHECK(min || max, op, ": at least one of 'min' or 'max' must not be None");
  OpParams p;
  p.has_lo = min.has_value();
  p.has_hi = max.has_value();
  p.lo = min ? checked_scalar(*min, t) : 0;
  p.hi = max ? checked_scalar(*max, t) : 0;
  return p;
}

}  // namespace ops_detail

namespace {

using ops_detail::result_type;
using ops_detail::run_binary;
using ops_detail::run_unary;
using ops_detail::to_floating;

Tensor run_compare(const Tensor& a_in, const Tensor& b_in, CompareOp op, const char* name) {
  check_same_device(name, {&a_in, &b_in});
  const DType dt = result_type(a_in, b_in);
  const DType work = dt == DType::Bool ? DType::UInt8 : dt;
  dispatch_arithmetic_or_half(work, name, [](auto) {});
  const Tensor a = a_in.to(work), b = b_in.to(work);
  const Shape shape = broadcast_shapes(a.sizes(), b.sizes());
  Tensor out = empty(shape, TensorOptions(DType::Bool, a.device()));
  kernels::compare(kernel_context(a), op, shape, strided(out), strided_as(a, shape),
                   strided_as(b, shape));
  return out;
}

// A gradient op run through the binary kernel: f(grad, saved) with no history.
Tensor grad_binary(const Tensor& g, const Tensor& saved, BinaryOp op, const OpParams& params = {}) {
  return run_binary(g, saved, op, params, "backward");
}

// x == 0 and e >= 0, where d(x^e)/de is defined as 0.
Tensor logical_and_zero_mask(const Tensor& x, const Tensor& e) {
  Tensor both = eq(x, zeros_like(x)).to(DType::Int64) + ge(e, zeros_like(e)).to(DType::Int64);
  return eq(both, full_like(both, 2));
}

OpParams alpha_param(double alpha) {
  OpParams p;
  p.alpha = alpha;
  return p;
}

}  // namespace

Tensor sum_to(const Tensor& t, const Shape& shape) {
  if (t.sizes() == shape) return t;
  const int64_t lead = t.dim() - int64_t(shape.size());
  TANDEM_CHECK(lead >= 0, "sum_to: cannot reduce ", shape_str(t.sizes()), " to ", shape_str(shape));
  Shape dims;
  for (int64_t d = 0; d < t.dim(); ++d) {
    if (d < lead)
      dims.push_back(d);
    else if (shape[d - lead] == 1 && t.sizes()[d] != 1)
      dims.push_back(d);
  }
  Tensor r = dims.empty() ? t : sum(t, dims, /*keepdim=*/true);
  return r.reshape(shape);
}

Tensor add(const Tensor& a, const Tensor& b, double alpha) {
  ops_detail::check_integral_alpha(result_type(a, b), alpha);
  Tensor out = run_binary(a, b, BinaryOp::Add, alpha_param(alpha), "add");
  Shape sa = a.sizes(), sb = b.sizes();
  record("AddBackward0", {a, b}, {out}, {},
         [sa, sb, alpha](const TensorList& g, const TensorList&) {
           return TensorList{sum_to(g[0], sa), sum_to(alpha == 1.0 ? g[0] : g[0] * alpha, sb)};
         });
  return out;
}

Tensor sub(const Tensor& a, const Tensor& b, double alpha) {
  ops_detail::check_integral_alpha(result_type(a, b), alpha);
  Tensor out = run_binary(a, b, BinaryOp::Sub, alpha_param(alpha), "sub");
  Shape sa = a.sizes(), sb = b.sizes();
  record("SubBackward0", {a, b}, {out}, {},
         [sa, sb, alpha](const TensorList& g, const TensorList&) {
           return TensorList{sum_to(g[0], sa), sum_to(g[0] * -alpha, sb)};
         });
  return out;
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = run_binary(a, b, BinaryOp::Mul, {}, "mul");
  Shape sa = a.sizes(), sb = b.sizes();
  const bool need_a = b.requires_grad(), need_b = a.requires_grad();
  record("MulBackward0", {a, b}, {out}, {need_a ? a : Tensor(), need_b ? b : Tensor()},
         [sa, sb](const TensorList& g, const TensorList& s) {
           return TensorList{s[1].defined() ? sum_to(g[0] * s[1], sa) : Tensor(),
                             s[0].defined() ? sum_to(g[0] * s[0], sb) : Tensor()};
         });
  return out;
}

Tensor div(const Tensor& a, const Tensor& b) {
  // Integer division promotes to float32, as torch's true division.
  const bool integral = !is_floating(a.dtype()) && !is_floating(b.dtype());
  const Tensor fa = integral ? a.to(DType::Float32) : a;
  Tensor out = run_binary(fa, b, BinaryOp::Div, {}, "div");
  Shape sa = a.sizes(), sb = b.sizes();
  record("DivBackward0", {a, b}, {out}, {a, b}, [sa, sb](const TensorList& g, const TensorList& s) {
    const Tensor& x = s[0];
    const Tensor& y = s[1];
    return TensorList{sum_to(g[0] / y, sa), sum_to(-g[0] * x / (y * y), sb)};
  });
  return out;
}

Tensor neg(const Tensor& a) {
  Tensor out = run_unary(a, UnaryOp::Neg, {}, "neg");
  record("NegBackward0", {a}, {out}, {},
         [](const TensorList& g, const TensorList&) { return TensorList{-g[0]}; });
  return out;
}

namespace {

// x ** e for a float16 or bfloat16 x, as PyTorch 1.13's CPU kernels: the exponent is rounded to
// the tensor's type first; bfloat16 takes the exponents PyTorch turns into other operations
// (pow_scalar: 0.5 is sqrt, ...), float16 calls std::pow for every exponent (so (-inf) ** 0.5 is
// inf in float16 and nan in bfloat16). The gradient is PyTorch's formula op by op, each op rounded
// to the dtype: g * (e * x ** (e - 1)), 0 where e == 0.
Tensor pow_half(const Tensor& a, double exponent_in) {
  const double e = ops_detail::scalar_in(a.dtype(), exponent_in);
  Tensor out;
  if (a.dtype() == DType::BFloat16) {
    out = run_unary(a, UnaryOp::PowScalar, alpha_param(e), "pow");
  } else {
    const Tensor exponent = full({}, e, a.options());  // std::pow through the binary kernel
    out = run_binary(a, exponent, BinaryOp::Pow, {}, "pow");
  }
  // PyTorch's formula takes the exponent as given; each op rounds its scalar to the dtype.
  record("PowBackward0", {a}, {out}, {a}, [exponent_in](const TensorList& g, const TensorList& s) {
    if (exponent_in == 0) return TensorList{zeros_like(s[0])};
    return TensorList{g[0] * (pow(s[0], exponent_in - 1.0) * exponent_in)};
  });
  return out;
}

}  // namespace

Tensor pow(const Tensor& a, double exponent) {
  if (const auto c = autocast::cast_operands(autocast::OpClass::Transcendental, {&a})) {
    const autocast::Suspend nested;
    return pow((*c)[0], exponent);
  }
  // A floating exponent makes an integer tensor's power floating (PyTorch's type promotion with
  // a float scalar: int ** 2.0 is float32).
  if (!is_floating(a.dtype())) return pow(a.to(DType::Float32), exponent);
  if (is_half(a.dtype())) return pow_half(a, exponent);
  Tensor out = run_unary(a, UnaryOp::PowScalar, alpha_param(exponent), "pow");
  record("PowBackward0", {a}, {out}, {a}, [exponent](const TensorList& g, const TensorList& s) {
    return TensorList{grad_binary(g[0], s[0], BinaryOp::PowScalarBackward, alpha_param(exponent))};
  });
  return out;
}

Tensor pow_integer_exponent(const Tensor& a, int64_t exponent) {
  if (is_floating(a.dtype())) return pow(a, double(exponent));
  const DType t = ops_detail::python_int_type(a.dtype());
  if (t != a.dtype()) return pow_integer_exponent(a.to(t), exponent);  // bool ** 2 is int64
  TANDEM_CHECK(exponent >= 0, "Integers to negative integer powers are not allowed.");
  // int64 holds every exponent (the check would refuse INT64_MAX, which rounds up to 2^63).
  const double e = t == DType::Int64 ? double(exponent) : ops_detail::checked_scalar(exponent, t);
  return run_unary(a, UnaryOp::PowScalar, alpha_param(e), "pow");
}

Tensor pow(const Tensor& a, const Tensor& exponent) {
  if (const auto c = autocast::cast_operands(autocast::OpClass::Transcendental, {&a, &exponent})) {
    const autocast::Suspend nested;
    return pow((*c)[0], (*c)[1]);
  }
  Tensor out = run_binary(a, exponent, BinaryOp::Pow, {}, "pow");
  Shape sa = a.sizes(), sb = exponent.sizes();
  record("PowBackward1", {a, exponent}, {out}, {a, exponent, out},
         [sa, sb](const TensorList& g, const TensorList& s) {
           const Tensor &x = s[0], &e = s[1], &y = s[2];
           // As PyTorch's pow_backward_self: 0 where e == 0 (even for x = 0 or nan).
           Tensor ga = where(eq(e, zeros_like(e)), zeros_like(y), g[0] * (e * pow(x, e - 1.0)));
           // d/de x^e = x^e log x, defined as 0 where x == 0 and e >= 0. PyTorch masks the
           // derivative, not the product with g, so an inf or nan g still gives nan there.
           Tensor gb = g[0] * where(logical_and_zero_mask(x, e), zeros_like(y), y * log(x));
           return TensorList{sum_to(ga, sa), sum_to(gb, sb)};
         });
  return out;
}

Tensor exp(const Tensor& a) {
  if (const auto c = autocast::cast_operands(autocast::OpClass::Transcendental, {&a})) {
    const autocast::Suspend nested;
    return exp((*c)[0]);
  }
  Tensor out = run_unary(to_floating(a), UnaryOp::Exp, {}, "exp");
  record("ExpBackward0", {a}, {out}, {out},
         [](const TensorList& g, const TensorList& s) { return TensorList{g[0] * s[0]}; });
  return out;
}

Tensor log(const Tensor& a) {
  if (const auto c = autocast::cast_operands(autocast::OpClass::Transcendental, {&a})) {
    const autocast::Suspend nested;
    return log((*c)[0]);
  }
  Tensor out = run_unary(to_floating(a), UnaryOp::Log, {}, "log");
  record("LogBackward0", {a}, {out}, {a},
         [](const TensorList& g, const TensorList& s) { return TensorList{g[0] / s[0]}; });
  return out;
}

Tensor sqrt(const Tensor& a) {
  Tensor out = run_unary(to_floating(a), UnaryOp::Sqrt, {}, "sqrt");
  record("SqrtBackward0", {a}, {out}, {out},
         [](const TensorList& g, const TensorList& s) { return TensorList{g[0] / (s[0] * 2.0)}; });
  return out;
}

Tensor abs(const Tensor& a) {
  // As PyTorch: bool has no abs, and an unsigned value is its own.
  TANDEM_CHECK(a.dtype() != DType::Bool, "\"abs_cpu\" not implemented for 'Bool'");
  if (a.dtype() == DType::UInt8) return a.clone();
  Tensor out = run_unary(a, UnaryOp::Abs, {}, "abs");
  record("AbsBackward0", {a}, {out}, {a},
         [](const TensorList& g, const TensorList& s) { return TensorList{g[0] * sign(s[0])}; });
  return out;
}

Tensor sign(const Tensor& a) {
  if (a.dtype() == DType::Bool) return a.clone();  // as PyTorch's: true is 1, false 0
  Tensor out = run_unary(a, UnaryOp::Sign, {}, "sign");
  record("SignBackward0", {a}, {out}, {},
         [](const TensorList& g, const TensorList&) { return TensorList{zeros_like(g[0])}; });
  return out;
}

Tensor clamp(const Tensor& a, std::optional<double> min, std::optional<double> max) {
  // An integer tensor with a fractional bound clamps in float32, as torch.clamp(int, 0.5, 2.5).
  const Tensor x = ops_detail::clamp_needs_float(min, max) ? to_floating(a) : a;
  const OpParams p = ops_detail::clamp_params(min, max, x.dtype(), "clamp");
  Tensor out = run_unary(x, UnaryOp::Clamp, p, "clamp");
  record("ClampBackward1", {a}, {out}, {a}, [p](const TensorList& g, const TensorList& s) {
    return TensorList{grad_binary(g[0], s[0], BinaryOp::ClampBackward, p)};
  });
  return out;
}

namespace {

// maximum (is_max) or minimum, differentiable.
Tensor extremum(const Tensor& a, const Tensor& b, bool is_max) {
  Tensor out = run_binary(a, b, is_max ? BinaryOp::Maximum : BinaryOp::Minimum, {},
                          is_max ? "maximum" : "minimum");
  Shape sa = a.sizes(), sb = b.sizes();
  record(is_max ? "MaximumBackward0" : "MinimumBackward0", {a, b}, {out}, {a, b},
         [sa, sb, is_max](const TensorList& g, const TensorList& s) {
           // As PyTorch: ties split the gradient evenly, and the losing side gets none; where
           // either is NaN neither comparison holds, so both get all of it.
           const Tensor& x = s[0];
           const Tensor& y = s[1];
           const Tensor shared = where(eq(x, y), g[0] * 0.5, g[0]);
           const Tensor none = zeros_like(shared);
           Tensor ga = where(is_max ? lt(x, y) : gt(x, y), none, shared);
           Tensor gb = where(is_max ? gt(x, y) : lt(x, y), none, shared);
           return TensorList{sum_to(ga, sa), sum_to(gb, sb)};
         });
  return out;
}

}  // namespace

Tensor maximum(const Tensor& a, const Tensor& b) { return extremum(a, b, true); }
Tensor minimum(const Tensor& a, const Tensor& b) { return extremum(a, b, false); }

Tensor where(const Tensor& condition_in, const Tensor& a, const Tensor& b) {
  // PyTorch 1.13 still takes a uint8 condition (any non-zero byte is true), with a deprecation
  // warning it gives once per process.
  const DType cdt = condition_in.dtype();
  TANDEM_CHECK(cdt == DType::Bool || cdt == DType::UInt8,
               "where expected condition to be a boolean tensor, but got a tensor with dtype ",
               ops_detail::scalar_type_name(cdt));
  if (cdt == DType::UInt8)
    warn_once(
        "where received a uint8 condition tensor. This behavior is deprecated and will be removed "
        "in a future version of PyTorch. Use a boolean condition instead.");
  const Tensor condition = cdt == DType::Bool ? condition_in : condition_in.to(DType::Bool);
  check_same_device("where", {&condition, &a, &b});
  const DType dt = ops_detail::result_type(a, b);
  const Tensor x = a.to(dt), y = b.to(dt);
  const Shape shape = broadcast_shapes(broadcast_shapes(condition.sizes(), x.sizes()), y.sizes());
  Tensor out = empty(shape, x.options());
  kernels::where(kernel_context(x), shape, strided(out), strided_as(condition, shape),
                 strided_as(x, shape), strided_as(y, shape));
  Shape sa = a.sizes(), sb = b.sizes();
  record("WhereBackward0", {a, b}, {out}, {condition},
         [sa, sb](const TensorList& g, const TensorList& s) {
           Tensor z = zeros_like(g[0]);
           return TensorList{sum_to(where(s[0], g[0], z), sa), sum_to(where(s[0], z, g[0]), sb)};
         });
  return out;
}

Tensor eq(const Tensor& a, const Tensor& b) { return run_compare(a, b, CompareOp::Eq, "eq"); }
Tensor ne(const Tensor& a, const Tensor& b) { return run_compare(a, b, CompareOp::Ne, "ne"); }
Tensor lt(const Tensor& a, const Tensor& b) { return run_compare(a, b, CompareOp::Lt, "lt"); }
Tensor le(const Tensor& a, const Tensor& b) { return run_compare(a, b, CompareOp::Le, "le"); }
Tensor gt(const Tensor& a, const Tensor& b) { return run_compare(a, b, CompareOp::Gt, "gt"); }
Tensor ge(const Tensor& a, const Tensor& b) { return run_compare(a, b, CompareOp::Ge, "ge"); }

bool equal(const Tensor& a, const Tensor& b) {
  if (a.sizes() != b.sizes()) return false;
  NoGradGuard no_grad;
  return sum(eq(a, b)).item() == double(a.numel());
}

bool allclose(const Tensor& a, const Tensor& b, double rtol, double atol) {
  // torch.isclose with equal_nan=false: equal values (infinities of one sign included) are
  // close; otherwise both must be finite and |a - b| <= atol + rtol * |b|. Shapes broadcast.
  const Shape shape = broadcast_shapes(a.sizes(), b.sizes());
  const auto va = a.expand(shape).to_vector(), vb = b.expand(shape).to_vector();
  for (size_t i = 0; i < va.size(); ++i) {
    if (va[i] == vb[i]) continue;
    if (!std::isfinite(va[i]) || !std::isfinite(vb[i])) return false;
    if (std::abs(va[i] - vb[i]) > atol + rtol * std::abs(vb[i])) return false;
  }
  return true;
}

}  // namespace tandem
