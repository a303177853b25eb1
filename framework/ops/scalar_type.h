// Internal to framework/ops: PyTorch's C++ scalar types as its ops show them: their names
// ("Float", "Long", ...), which its dtype errors print ("expected scalar type Long but found
// Float"), and what a Python scalar becomes in a tensor of that type.
#pragma once

#include "kernels/common/dtype.h"
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

}  // namespace tandem::ops_detail
