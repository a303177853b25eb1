// Internal to framework/ops: PyTorch's C++ scalar type names ("Float", "Long", ...), which its
// dtype errors print ("expected scalar type Long but found Float").
#pragma once

#include "kernels/common/dtype.h"

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

}  // namespace tandem::ops_detail
