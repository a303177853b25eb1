// Internal to framework/ops: PyTorch's C++ scalar types as its ops show them: their names
// ("Float", "Long", ...), which its dtype errors print ("expected scalar type Long but found
// Float"), and what a Python scalar becomes in a tensor of that type.
#pragma once

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

}  // namespace tandem::ops_detail
