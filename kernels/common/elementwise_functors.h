// The per-element arithmetic of every elementwise op and its backward, written once as
// host+device functors. kernels/cpu and kernels/cuda both apply these, so the CPU tests cover
// the arithmetic the GPU runs. Ops are named by enum so a backend can be chosen at run time.
#pragma once

#include <cmath>
#include <cstdint>
#include <type_traits>

#include "kernels/common/host_device.h"

namespace tandem::kernels {

// Scalar parameters some ops take (alpha for add, bounds for clamp, slope for leaky_relu, ...).
struct OpParams {
  double alpha = 1.0;
  double lo = 0.0, hi = 0.0;
  bool has_lo = false, has_hi = false;
};
// Elu's three coefficients (PyTorch's elu(x, alpha, scale, input_scale), which SELU and CELU call
// with their own) travel as alpha, hi = scale and lo = input_scale; Softplus's beta and threshold
// as alpha and hi.

enum class UnaryOp : uint8_t {
  Neg,
  Exp,
  Log,
  Sqrt,
  Abs,
  Relu,
  LeakyRelu,
  Sigmoid,
  Tanh,
  Gelu,
  GeluTanh,
  Clamp,
  PowScalar,
  AddScalar,
  MulScalar,
  DivScalar,  // x / alpha, a true division as PyTorch's div_(scalar) on the CPU
  Sign,
  Silu,
  Mish,
  Elu,       // x <= 0 ? expm1(x * input_scale) * alpha * scale : x * scale (see OpParams)
  Softplus,  // x * beta > threshold ? x : log1p(exp(x * beta)) / beta
  Hardsigmoid,
  Hardswish,
};

enum class BinaryOp : uint8_t {
  Add,  // a + alpha * b
  Sub,  // a - alpha * b
  Mul,
  Div,
  Pow,
  Maximum,
  Minimum,
  // Backward helpers: (grad, saved) -> grad_input.
  ReluBackward,       // y <= 0 ? 0 : g (PyTorch's threshold_backward on the result)
  LeakyReluBackward,  // g * (x > 0 ? 1 : alpha)
  SigmoidBackward,    // g * y * (1 - y), y = sigmoid(x)
  TanhBackward,       // g * (1 - y^2), y = tanh(x)
  GeluBackward,       // g * d/dx gelu(x) (erf form)
  GeluTanhBackward,   // g * d/dx gelu(x) (tanh form)
  ClampBackward,      // g * (lo <= x <= hi)
  PowScalarBackward,  // g * (alpha * x^(alpha-1)), 0 where alpha == 0
  SiluBackward,       // the rest take (grad, x) and PyTorch's CPU formulas
  MishBackward,
  EluBackward,
  SoftplusBackward,
  HardsigmoidBackward,
  HardswishBackward,
};

enum class CompareOp : uint8_t { Eq, Ne, Lt, Le, Gt, Ge };

// The argument of a <cmath> function: an integer as double, which is what std's integral
// overloads (std::exp(int64_t), ...) do on the host; device code has no such overloads, so the
// integer kernels spell the conversion out and compute the CPU's values on both.
template <typename T>
TANDEM_HD auto math_arg(T x) {
  if constexpr (std::is_integral_v<T>)
    return double(x);
  else
    return x;
}

// -x with the integer types' wraparound, as PyTorch's: -(-128) is -128 in int8 and the minimum of
// int32 and int64 is its own negation too (computed in unsigned arithmetic, which wraps, where
// signed overflow would be undefined).
template <typename T>
TANDEM_HD T wrapping_neg(T x) {
  if constexpr (std::is_integral_v<T>) {
    using U = std::make_unsigned_t<T>;
    return T(U(U(0) - U(x)));
  } else {
    return -x;
  }
}

// x < 0, false for an unsigned type without comparing it (nvcc's -Werror refuses an unsigned
// value's comparison with zero as pointless).
template <typename T>
TANDEM_HD bool is_negative(T x) {
  if constexpr (std::is_unsigned_v<T>)
    return false;
  else
    return x < T(0);
}

// A scalar parameter (OpParams) in T. An unsigned type takes a negative integer wrapped, as
// PyTorch's scalar arithmetic on uint8 (x.add_(-1) subtracts 1, x.mul_(-1) negates): through
// int64, since a negative double converted to an unsigned type directly is undefined.
template <typename T>
TANDEM_HD T param_as(double v) {
  if constexpr (std::is_integral_v<T> && std::is_unsigned_v<T>)
    return T(static_cast<int64_t>(v));
  else
    return T(v);
}

// base ** exp for an integer type, as PyTorch's powi: products wrap around (computed unsigned,
// where signed overflow would be undefined; the low bits are the same in any order), and a negative
// exponent gives 1 for a base of 1, +-1 for -1 and 0 for anything else.
template <typename T>
TANDEM_HD T integer_pow(T base, T exp) {
  if (is_negative(exp)) {
    if (base == T(1)) return T(1);
    if (base == T(-1)) return (exp % T(2)) != T(0) ? T(-1) : T(1);
    return T(0);
  }
  // At least unsigned int: a narrower unsigned type would promote to (signed) int to multiply.
  using U = std::conditional_t<(sizeof(T) < sizeof(unsigned)), unsigned, std::make_unsigned_t<T>>;
  U result = 1, b = U(base);
  for (U e = U(exp); e != 0; e >>= 1) {
    if (e & 1) result *= b;
    b *= b;
  }
  return T(result);
}

// x ** e for a scalar exponent, as PyTorch computes it: the exponents it turns into other
// operations (0.5: sqrt, -0.5: 1 / sqrt, 2: x * x, 3: x * x * x, -1: 1 / x, -2: 1 / (x * x)) give
// those operations' bits (sqrt(-inf) is nan where std::pow gives inf), every other one std::pow.
template <typename T>
TANDEM_HD T pow_scalar(T x, T e) {
  if constexpr (std::is_integral_v<T>) {
    return integer_pow(x, e);
  } else {
    if (e == T(0.5)) return T(std::sqrt(x));
    if (e == T(-0.5)) return T(1) / T(std::sqrt(x));
    if (e == T(-1)) return T(1) / x;
    if (e == T(-2)) return T(1) / (x * x);
    if (e == T(2)) return x * x;
    if (e == T(3)) return x * x * x;
    return T(std::pow(x, e));
  }
}

// std::min(std::max(x, 0), 6), as PyTorch's hardsigmoid and hardswish write it (a NaN stays NaN,
// as there).
template <typename T>
TANDEM_HD T relu6(T x) {
  const T y = x < T(0) ? T(0) : x;
  return T(6) < y ? T(6) : y;
}

// The op is a template argument so each kernel instantiation is a tight, vectorisable loop;
// dispatch_unary/dispatch_binary below turn a run-time op into that argument. `if constexpr`
// compiles only the op's own arithmetic.
template <typename T, UnaryOp op>
struct Unary {
  T alpha, lo, hi;
  bool has_lo, has_hi;
  explicit Unary(const OpParams& p = {})
      : alpha(param_as<T>(p.alpha)),
        lo(param_as<T>(p.lo)),
        hi(param_as<T>(p.hi)),
        has_lo(p.has_lo),
        has_hi(p.has_hi) {}

  TANDEM_HD T operator()(T x) const {
    if constexpr (op == UnaryOp::Neg) return wrapping_neg(x);
    if constexpr (op == UnaryOp::Exp) return std::exp(math_arg(x));
    if constexpr (op == UnaryOp::Log) return std::log(math_arg(x));
    if constexpr (op == UnaryOp::Sqrt) return std::sqrt(math_arg(x));
    if constexpr (op == UnaryOp::Abs) {
      // Floating point: the sign bit cleared, as PyTorch's (abs(-0.0) is 0.0). Integers wrap as
      // PyTorch's: abs(-128) in int8 is -128.
      if constexpr (std::is_integral_v<T>)
        return is_negative(x) ? wrapping_neg(x) : x;
      else
        return std::fabs(x);
    }
    // Relu: NaN and -0 stay, as clamp_min.
    if constexpr (op == UnaryOp::Relu) return is_negative(x) ? T(0) : x;
    if constexpr (op == UnaryOp::LeakyRelu) return x > T(0) ? x : x * alpha;
    if constexpr (op == UnaryOp::Sigmoid) return T(1) / (T(1) + std::exp(math_arg(-x)));
    if constexpr (op == UnaryOp::Tanh) return std::tanh(math_arg(x));
    if constexpr (op == UnaryOp::Gelu) {
      // PyTorch's CPU runs float32 (and bfloat16) gelu on a contiguous tensor through oneDNN,
      // which gives +0.0 for -0.0; float64 runs this formula, which keeps -0.0. (Its scalar
      // kernel, for 0-d and non-contiguous float32 tensors, keeps -0.0 too: not followed.)
      if constexpr (std::is_same_v<T, float>)
        if (x == T(0)) return T(0);
      return x * T(0.5) * (T(1) + std::erf(math_arg(x * T(M_SQRT1_2))));
    }
    if constexpr (op == UnaryOp::GeluTanh) {
      const T k = T(M_SQRT2 * M_2_SQRTPI * 0.5);  // sqrt(2/pi)
      return T(0.5) * x * (T(1) + std::tanh(math_arg(k * (x + T(0.044715) * x * x * x))));
    }
    if constexpr (op == UnaryOp::Clamp) {
      // With both bounds a NaN bound gives NaN, as PyTorch's min(max(x, lo), hi); one NaN bound
      // alone leaves x, as its clamp_min / clamp_max.
      if (has_lo && has_hi && !(lo == lo)) return lo;
      if (has_lo && has_hi && !(hi == hi)) return hi;
      T y = x;
      if (has_lo && y < lo) y = lo;
      if (has_hi && y > hi) y = hi;
      return y;
    }
    if constexpr (op == UnaryOp::PowScalar) return pow_scalar(x, alpha);
    if constexpr (op == UnaryOp::AddScalar) return x + alpha;
    if constexpr (op == UnaryOp::MulScalar) return x * alpha;
    if constexpr (op == UnaryOp::DivScalar) return x / alpha;
    if constexpr (op == UnaryOp::Sign) return T((x > T(0)) - is_negative(x));
    if constexpr (op == UnaryOp::Silu) return x / (T(1) + std::exp(math_arg(-x)));
    if constexpr (op == UnaryOp::Mish) return x * std::tanh(std::log1p(std::exp(math_arg(x))));
    if constexpr (op == UnaryOp::Elu)
      return x <= T(0) ? T(std::expm1(math_arg(x * lo))) * (alpha * hi) : x * hi;
    if constexpr (op == UnaryOp::Softplus)
      return x * alpha > hi ? x : T(std::log1p(std::exp(math_arg(x * alpha)))) / alpha;
    if constexpr (op == UnaryOp::Hardsigmoid) return relu6(x + T(3)) / T(6);
    if constexpr (op == UnaryOp::Hardswish) return x * relu6(x + T(3)) / T(6);
    return x;
  }
};

template <typename T, BinaryOp op>
struct Binary {
  T alpha, lo, hi;
  bool has_lo, has_hi;
  explicit Binary(const OpParams& p = {})
      : alpha(param_as<T>(p.alpha)),
        lo(param_as<T>(p.lo)),
        hi(param_as<T>(p.hi)),
        has_lo(p.has_lo),
        has_hi(p.has_hi) {}

  TANDEM_HD T operator()(T a, T b) const {
    if constexpr (op == BinaryOp::Add) return a + alpha * b;
    if constexpr (op == BinaryOp::Sub) return a - alpha * b;
    if constexpr (op == BinaryOp::Mul) return a * b;
    if constexpr (op == BinaryOp::Div) return a / b;
    if constexpr (op == BinaryOp::Pow) {
      if constexpr (std::is_integral_v<T>)
        return integer_pow(a, b);
      else
        return std::pow(a, b);
    }
    // NaN propagates. Equal values give b, so maximum(-0.0, 0.0) is 0.0 and maximum(0.0, -0.0)
    // is -0.0, as PyTorch's vectorised CPU kernel (vmaxps), which runs every full vector of a
    // tensor; its scalar tail (the last n % 16 float32 or n % 8 float64 elements with AVX2)
    // gives a instead.
    if constexpr (op == BinaryOp::Maximum) return (a != a || a > b) ? a : b;
    if constexpr (op == BinaryOp::Minimum) return (a != a || a < b) ? a : b;
    if constexpr (op == BinaryOp::ReluBackward) return b <= T(0) ? T(0) : a;  // NaN passes g
    if constexpr (op == BinaryOp::LeakyReluBackward) return b > T(0) ? a : a * alpha;
    if constexpr (op == BinaryOp::SigmoidBackward) return a * (T(1) - b) * b;
    if constexpr (op == BinaryOp::TanhBackward) return a * (T(1) - b * b);
    if constexpr (op == BinaryOp::GeluBackward) {
      const T cdf = T(0.5) * (T(1) + std::erf(math_arg(b * T(M_SQRT1_2))));
      const T pdf = std::exp(math_arg(T(-0.5) * b * b)) * T(M_2_SQRTPI * M_SQRT1_2 * 0.5);
      return a * (cdf + b * pdf);
    }
    if constexpr (op == BinaryOp::GeluTanhBackward) {
      const T k = T(M_SQRT2 * M_2_SQRTPI * 0.5);
      const T c = T(0.044715);
      const T inner = k * (b + c * b * b * b);
      const T t = std::tanh(math_arg(inner));
      const T left = T(0.5) * b;
      const T right = T(1) + t;
      const T left_d = T(0.5) * right;
      const T right_d = left * (T(1) - t * t) * k * (T(1) + T(3) * c * b * b);
      return a * (left_d + right_d);
    }
    if constexpr (op == BinaryOp::ClampBackward)
      return ((!has_lo || b >= lo) && (!has_hi || b <= hi)) ? a : T(0);
    if constexpr (op == BinaryOp::PowScalarBackward)  // PyTorch's order: g * (e * x^(e-1))
      return alpha == T(0) ? T(0) : a * (alpha * pow_scalar(b, T(alpha - T(1))));
    if constexpr (op == BinaryOp::SiluBackward) {
      const T s = T(1) / (T(1) + std::exp(math_arg(-b)));
      return a * s * (T(1) + b * (T(1) - s));
    }
    if constexpr (op == BinaryOp::MishBackward) {
      const T s = T(1) / (T(1) + std::exp(math_arg(-b)));
      const T t = std::tanh(std::log1p(std::exp(math_arg(b))));
      return a * (t + b * s * (T(1) - t * t));
    }
    if constexpr (op == BinaryOp::EluBackward)  // NaN takes the exp branch, as the vectorised
      return b > T(0) ? a * hi : a * lo * (alpha * hi) * T(std::exp(math_arg(b * lo)));  // kernel
    if constexpr (op == BinaryOp::SoftplusBackward) {
      const T z = std::exp(math_arg(b * alpha));
      return b * alpha > hi ? a : a * z / (z + T(1));
    }
    if constexpr (op == BinaryOp::HardsigmoidBackward)
      // PyTorch's one_sixth is 1.0f / 6.0f, a float constant even for double tensors.
      return (b > T(-3) && b < T(3)) ? a * T(1.0f / 6.0f) : T(0);
    if constexpr (op == BinaryOp::HardswishBackward)
      // As PyTorch's vectorised kernel, which every tensor of 8+ elements runs: g at x = 3,
      // NaN at NaN (its scalar tail differs on both).
      return b < T(-3) ? T(0) : b >= T(3) ? a : a * (b / T(3) + T(0.5));
    return a;
  }
};

template <typename T, CompareOp op>
struct Compare {
  TANDEM_HD bool operator()(T a, T b) const {
    if constexpr (op == CompareOp::Eq) return a == b;
    if constexpr (op == CompareOp::Ne) return a != b;
    if constexpr (op == CompareOp::Lt) return a < b;
    if constexpr (op == CompareOp::Le) return a <= b;
    if constexpr (op == CompareOp::Gt) return a > b;
    if constexpr (op == CompareOp::Ge) return a >= b;
    return false;
  }
};

template <UnaryOp op>
using UnaryTag = std::integral_constant<UnaryOp, op>;
template <BinaryOp op>
using BinaryTag = std::integral_constant<BinaryOp, op>;
template <CompareOp op>
using CompareTag = std::integral_constant<CompareOp, op>;

// Calls fn(UnaryTag<op>{}) for the run-time `op`.
template <typename Fn>
void dispatch_unary(UnaryOp op, Fn&& fn) {
  using U = UnaryOp;
  switch (op) {
    case U::Neg:
      return fn(UnaryTag<U::Neg>{});
    case U::Exp:
      return fn(UnaryTag<U::Exp>{});
    case U::Log:
      return fn(UnaryTag<U::Log>{});
    case U::Sqrt:
      return fn(UnaryTag<U::Sqrt>{});
    case U::Abs:
      return fn(UnaryTag<U::Abs>{});
    case U::Relu:
      return fn(UnaryTag<U::Relu>{});
    case U::LeakyRelu:
      return fn(UnaryTag<U::LeakyRelu>{});
    case U::Sigmoid:
      return fn(UnaryTag<U::Sigmoid>{});
    case U::Tanh:
      return fn(UnaryTag<U::Tanh>{});
    case U::Gelu:
      return fn(UnaryTag<U::Gelu>{});
    case U::GeluTanh:
      return fn(UnaryTag<U::GeluTanh>{});
    case U::Clamp:
      return fn(UnaryTag<U::Clamp>{});
    case U::PowScalar:
      return fn(UnaryTag<U::PowScalar>{});
    case U::AddScalar:
      return fn(UnaryTag<U::AddScalar>{});
    case U::MulScalar:
      return fn(UnaryTag<U::MulScalar>{});
    case U::DivScalar:
      return fn(UnaryTag<U::DivScalar>{});
    case U::Sign:
      return fn(UnaryTag<U::Sign>{});
    case U::Silu:
      return fn(UnaryTag<U::Silu>{});
    case U::Mish:
      return fn(UnaryTag<U::Mish>{});
    case U::Elu:
      return fn(UnaryTag<U::Elu>{});
    case U::Softplus:
      return fn(UnaryTag<U::Softplus>{});
    case U::Hardsigmoid:
      return fn(UnaryTag<U::Hardsigmoid>{});
    case U::Hardswish:
      return fn(UnaryTag<U::Hardswish>{});
  }
}

template <typename Fn>
void dispatch_binary(BinaryOp op, Fn&& fn) {
  using B = BinaryOp;
  switch (op) {
    case B::Add:
      return fn(BinaryTag<B::Add>{});
    case B::Sub:
      return fn(BinaryTag<B::Sub>{});
    case B::Mul:
      return fn(BinaryTag<B::Mul>{});
    case B::Div:
      return fn(BinaryTag<B::Div>{});
    case B::Pow:
      return fn(BinaryTag<B::Pow>{});
    case B::Maximum:
      return fn(BinaryTag<B::Maximum>{});
    case B::Minimum:
      return fn(BinaryTag<B::Minimum>{});
    case B::ReluBackward:
      return fn(BinaryTag<B::ReluBackward>{});
    case B::LeakyReluBackward:
      return fn(BinaryTag<B::LeakyReluBackward>{});
    case B::SigmoidBackward:
      return fn(BinaryTag<B::SigmoidBackward>{});
    case B::TanhBackward:
      return fn(BinaryTag<B::TanhBackward>{});
    case B::GeluBackward:
      return fn(BinaryTag<B::GeluBackward>{});
    case B::GeluTanhBackward:
      return fn(BinaryTag<B::GeluTanhBackward>{});
    case B::ClampBackward:
      return fn(BinaryTag<B::ClampBackward>{});
    case B::PowScalarBackward:
      return fn(BinaryTag<B::PowScalarBackward>{});
    case B::SiluBackward:
      return fn(BinaryTag<B::SiluBackward>{});
    case B::MishBackward:
      return fn(BinaryTag<B::MishBackward>{});
    case B::EluBackward:
      return fn(BinaryTag<B::EluBackward>{});
    case B::SoftplusBackward:
      return fn(BinaryTag<B::SoftplusBackward>{});
    case B::HardsigmoidBackward:
      return fn(BinaryTag<B::HardsigmoidBackward>{});
    case B::HardswishBackward:
      return fn(BinaryTag<B::HardswishBackward>{});
  }
}

template <typename Fn>
void dispatch_compare(CompareOp op, Fn&& fn) {
  using C = CompareOp;
  switch (op) {
    case C::Eq:
      return fn(CompareTag<C::Eq>{});
    case C::Ne:
      return fn(CompareTag<C::Ne>{});
    case C::Lt:
      return fn(CompareTag<C::Lt>{});
    case C::Le:
      return fn(CompareTag<C::Le>{});
    case C::Gt:
      return fn(CompareTag<C::Gt>{});
    case C::Ge:
      return fn(CompareTag<C::Ge>{});
  }
}

}  // namespace tandem::kernels
