// Internal to framework/ops (and autograd's errors): PyTorch's C++ scalar types as its ops show
// them: their names ("Float", "Long", ...), which its dtype errors print ("expected scalar type
// Long but found Float"), and what a Python scalar becomes in a tensor of that type.
#pragma once

#include <cmath>
#include <limits>
#include <string>

#include "framework/tensor/tensor.h"
#include "kernels/common/dtype.h"
#include "kernels/common/error.h"
#include "kernels/common/half.h"

namespace tandem::ops_detail {

inline const char* scalar_type_name(DType t) {
  switch (t) {
    case DType::Float32:
      return "Float";
    case DType::Float64:
      return "Double";
    case DType::Float16:
      return "Half";
    case DType::BFloat16:
      return "BFloat16";
    case DType::Int64:
      return "Long";
    case DType::Int32:
      return "Int";
    case DType::Int16:
      return "Short";
    case DType::Int8:
      return "Char";
    case DType::UInt8:
      return "Byte";
    case DType::Bool:
      return "Bool";
  }
  return "?";
}

// PyTorch's legacy type string (Tensor.type()), which some of its errors print:
// torch.FloatTensor, torch.cuda.HalfTensor, ...
inline std::string legacy_type_name(const Tensor& t) {
  return std::string(t.is_cuda() ? "torch.cuda." : "torch.") + scalar_type_name(t.dtype()) +
         "Tensor";
}

// A Python scalar as PyTorch 1.13's CPU kernels use it against a tensor of type t (`x * 0.1`,
// `x.mul_(0.1)`, `x ** (1/3)`): wrapped into a tensor of that type first, so a float16 or bfloat16
// tensor sees the scalar rounded to its type (through float, as c10::Half(double) does). Float32
// and float64 kernels round it themselves, and integer tensors are not rounded here.
inline double scalar_in(DType t, double v) {
  switch (t) {
    case DType::Float16:
      return kernels::half_to_float(kernels::float_to_half(float(v)));
    case DType::BFloat16:
      return kernels::bfloat16_to_float(kernels::float_to_bfloat16(float(v)));
    default:
      return v;
  }
}

// PyTorch's result_type for two tensors: a 0-dim tensor (a scalar such as `x * 0.5` makes) takes
// part in promotion only when its category (bool < integer < floating) is higher than the other
// operand's, so float16 + 0-dim float32 stays float16 and int32 + 0-dim int64 stays int32, but
// int64 + 0-dim float32 is float32 (c10's ResultTypeState, combine_categories).
inline DType result_type(const Tensor& a, const Tensor& b) {
  const bool a_zero = a.dim() == 0, b_zero = b.dim() == 0;
  if (a_zero == b_zero) return promote_types(a.dtype(), b.dtype());
  auto category = [](DType t) { return t == DType::Bool ? 0 : is_floating(t) ? 2 : 1; };
  const DType dim_type = a_zero ? b.dtype() : a.dtype();
  const DType zero_type = a_zero ? a.dtype() : b.dtype();
  return category(dim_type) >= category(zero_type) ? dim_type : promote_types(dim_type, zero_type);
}

// The dtype a Python number takes beside a tensor of type t, as PyTorch's wrapped numbers: a float
// keeps a floating t and is float32 (the default dtype) beside an integer or bool one; an int
// keeps t, and is int64 beside bool.
inline DType python_float_type(DType t) { return is_floating(t) ? t : DType::Float32; }
inline DType python_int_type(DType t) { return t == DType::Bool ? DType::Int64 : t; }

// Whether an in-place op may write a `from` result into a `to` tensor (c10::canCast): not a
// floating result into an integer tensor, nor a non-bool result into a bool tensor.
inline bool can_cast(DType from, DType to) {
  if (is_floating(from) && !is_floating(to)) return false;
  if (from != DType::Bool && to == DType::Bool) return false;
  return true;
}

// Refuses an in-place op whose result (of dtype `result`) the tensor of dtype `self` cannot hold,
// in PyTorch's words.
inline void check_result_fits(DType result, DType self) {
  TANDEM_CHECK(can_cast(result, self), "result type ", scalar_type_name(result),
               " can't be cast to the desired output type ", scalar_type_name(self));
}

// The value a tensor of type t stores for a scalar, as c10::checked_convert gives it to fill_,
// full and clamp's bounds, or PyTorch's error for one it cannot hold: "value cannot be converted
// to type int8_t without overflow". An integral value is a Python int, and a negative one wraps
// into uint8 (-1 is 255, -256 is refused); a fractional one is a Python float. Infinities and NaN
// fit floating types, not integer ones; anything fits bool.
inline double checked_scalar(double value, DType t) {
  if (t == DType::Bool || t == DType::Float64) return value;
  double lowest = 0, max = 0;
  const char* name = "";
  switch (t) {
    case DType::Float32:
      lowest = -double(std::numeric_limits<float>::max()), max = -lowest, name = "float";
      break;
    case DType::Float16:
      lowest = -65504.0, max = 65504.0, name = "at::Half";
      break;
    case DType::BFloat16:
      lowest = -3.3895313892515355e38, max = 3.3895313892515355e38, name = "at::BFloat16";
      break;
    case DType::Int64:
      lowest = -0x1p63, name = "int64_t";
      break;
    case DType::Int32:
      lowest = -2147483648.0, max = 2147483647.0, name = "int";
      break;
    case DType::Int16:
      lowest = -32768.0, max = 32767.0, name = "int16_t";
      break;
    case DType::Int8:
      lowest = -128.0, max = 127.0, name = "int8_t";
      break;
    case DType::UInt8:
      lowest = 0.0, max = 255.0, name = "uint8_t";
      break;
    default:
      return value;
  }
  bool overflows;
  if (is_floating(t)) {
    overflows = std::isfinite(value) && (value < lowest || value > max);
  } else if (std::isnan(value) || std::isinf(value)) {
    overflows = true;
  } else if (t == DType::UInt8 && value < 0 && value == std::trunc(value)) {
    overflows = -value > max;  // an int wraps: -1 is 255, -256 is refused
  } else {
    // int64's max is no double (it rounds up to 2^63, which does not fit).
    overflows = value < lowest || (t == DType::Int64 ? value >= 0x1p63 : value > max);
  }
  TANDEM_CHECK(!overflows, "value cannot be converted to type ", name, " without overflow");
  return t == DType::UInt8 && value < 0 ? value + 256 : value;
}

}  // namespace tandem::ops_detail
