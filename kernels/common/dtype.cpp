// DType names, sizes and promotion.
#include "kernels/common/dtype.h"

#include "kernels/common/error.h"

namespace tandem {

size_t element_size(DType t) {
  switch (t) {
    case DType::Float64:
    case DType::Int64:
      return 8;
    case DType::Float32:
    case DType::Int32:
      return 4;
    case DType::Float16:
    case DType::BFloat16:
    case DType::Int16:
      return 2;
    case DType::Int8:
    case DType::UInt8:
    case DType::Bool:
      return 1;
  }
  return 1;
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::Float32:
      return "float32";
    case DType::Float64:
      return "float64";
    case DType::Float16:
      return "float16";
    case DType::BFloat16:
      return "bfloat16";
    case DType::Int64:
      return "int64";
    case DType::Int32:
      return "int32";
    case DType::Int16:
      return "int16";
    case DType::Int8:
      return "int8";
    case DType::UInt8:
      return "uint8";
    case DType::Bool:
      return "bool";
  }
  return "?";
}

DType dtype_from_name(const std::string& name) {
  for (DType t : {DType::Float32, DType::Float64, DType::Float16, DType::BFloat16, DType::Int64,
                  DType::Int32, DType::Int16, DType::Int8, DType::UInt8, DType::Bool})
    if (name == dtype_name(t)) return t;
  TANDEM_FAIL("unknown dtype '", name, "'");
}

bool is_half(DType t) { return t == DType::Float16 || t == DType::BFloat16; }

bool is_floating(DType t) {
  return t == DType::Float32 || t == DType::Float64 || t == DType::Float16 || t == DType::BFloat16;
}
bool is_compute_floating(DType t) { return t == DType::Float32 || t == DType::Float64; }

void throw_not_floating(const char* op, DType t) {
  TANDEM_FAIL(op, ": expected a float32 or float64 tensor, got ", dtype_name(t));
}
void throw_not_arithmetic(const char* op, DType t) {
  TANDEM_FAIL(op, ": not implemented for ", dtype_name(t), " tensors");
}

DType promote_types(DType a, DType b) {
  if (a == b) return a;
  // Rank: bool < uint8/int8 < int16 < int32 < int64 < float16/bfloat16 < float32 < float64.
  auto rank = [](DType t) {
    switch (t) {
      case DType::Bool:
        return 0;
      case DType::UInt8:
        return 1;
      case DType::Int8:
        return 1;
      case DType::Int16:
        return 2;
      case DType::Int32:
        return 3;
      case DType::Int64:
        return 4;
      case DType::Float16:
        return 5;
      case DType::BFloat16:
        return 5;
      case DType::Float32:
        return 6;
      case DType::Float64:
        return 7;
    }
    return 0;
  };
  if ((a == DType::UInt8 && b == DType::Int8) || (a == DType::Int8 && b == DType::UInt8))
    return DType::Int16;
  if ((a == DType::Float16 && b == DType::BFloat16) ||
      (a == DType::BFloat16 && b == DType::Float16))
    return DType::Float32;
  return rank(a) >= rank(b) ? a : b;
}

}  // namespace tandem
