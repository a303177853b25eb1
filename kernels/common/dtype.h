// Element types: the compute types (float32, float64), integer and bool types, and float16 /
// bfloat16 as storage-only types (conversion, checkpoints). Names follow PyTorch ("float32").
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

#include "kernels/common/half.h"

namespace tandem {

enum class DType : uint8_t {
  Float32,
  Float64,
  Float16,
  BFloat16,
  Int64,
  Int32,
  Int16,
  Int8,
  UInt8,
  Bool
};

size_t element_size(DType t);
const char* dtype_name(DType t);    // "float32", "int64", ... as in str(torch.float32)[6:]
bool is_floating(DType t);          // float16/bfloat16 included
bool is_half(DType t);              // float16 or bfloat16
bool is_compute_floating(DType t);  // float32/float64: the types differentiable ops compute in
DType dtype_from_name(const std::string& name);  // inverse of dtype_name; throws on unknown

using kernels::BFloat16;
using kernels::Half;

template <typename T>
struct dtype_of;
template <>
struct dtype_of<float> {
  static constexpr DType value = DType::Float32;
};
template <>
struct dtype_of<double> {
  static constexpr DType value = DType::Float64;
};
template <>
struct dtype_of<Half> {
  static constexpr DType value = DType::Float16;
};
template <>
struct dtype_of<BFloat16> {
  static constexpr DType value = DType::BFloat16;
};
template <>
struct dtype_of<int64_t> {
  static constexpr DType value = DType::Int64;
};
template <>
struct dtype_of<int32_t> {
  static constexpr DType value = DType::Int32;
};
template <>
struct dtype_of<int16_t> {
  static constexpr DType value = DType::Int16;
};
template <>
struct dtype_of<int8_t> {
  static constexpr DType value = DType::Int8;
};
template <>
struct dtype_of<uint8_t> {
  static constexpr DType value = DType::UInt8;
};
template <>
struct dtype_of<bool> {
  static constexpr DType value = DType::Bool;
};

template <typename T>
struct type_tag {
  using type = T;
};

// Calls fn(type_tag<T>{}) with T the C++ type of `t`, for every dtype.
template <typename Fn>
decltype(auto) dispatch_all(DType t, Fn&& fn) {
  switch (t) {
    case DType::Float32:
      return fn(type_tag<float>{});
    case DType::Float64:
      return fn(type_tag<double>{});
    case DType::Float16:
      return fn(type_tag<Half>{});
    case DType::BFloat16:
      return fn(type_tag<BFloat16>{});
    case DType::Int64:
      return fn(type_tag<int64_t>{});
    case DType::Int32:
      return fn(type_tag<int32_t>{});
    case DType::Int16:
      return fn(type_tag<int16_t>{});
    case DType::Int8:
      return fn(type_tag<int8_t>{});
    case DType::UInt8:
      return fn(type_tag<uint8_t>{});
    case DType::Bool:
      return fn(type_tag<bool>{});
  }
  return fn(type_tag<float>{});
}

// Calls fn(type_tag<T>{}) for the compute types (float32, float64); other dtypes throw with
// the op's name, e.g. "conv2d: expected a float32 or float64 tensor, got int64".
[[noreturn]] void throw_not_floating(const char* op, DType t);
template <typename Fn>
decltype(auto) dispatch_floating(DType t, const char* op, Fn&& fn) {
  if (t == DType::Float32) return fn(type_tag<float>{});
  if (t == DType::Float64) return fn(type_tag<double>{});
  throw_not_floating(op, t);
}

// Calls fn for the arithmetic types: float32/64 and the integer types (not half, not bool).
[[noreturn]] void throw_not_arithmetic(const char* op, DType t);
template <typename Fn>
decltype(auto) dispatch_arithmetic(DType t, const char* op, Fn&& fn) {
  switch (t) {
    case DType::Float32:
      return fn(type_tag<float>{});
    case DType::Float64:
      return fn(type_tag<double>{});
    case DType::Int64:
      return fn(type_tag<int64_t>{});
    case DType::Int32:
      return fn(type_tag<int32_t>{});
    case DType::Int16:
      return fn(type_tag<int16_t>{});
    case DType::Int8:
      return fn(type_tag<int8_t>{});
    case DType::UInt8:
      return fn(type_tag<uint8_t>{});
    default:
      throw_not_arithmetic(op, t);
  }
}

// dispatch_arithmetic plus float16 and bfloat16, for the kernels that compute on them in float
// (kernels/common/opmath.h): the elementwise ops, sum and max.
template <typename Fn>
decltype(auto) dispatch_arithmetic_or_half(DType t, const char* op, Fn&& fn) {
  if (t == DType::Float16) return fn(type_tag<Half>{});
  if (t == DType::BFloat16) return fn(type_tag<BFloat16>{});
  return dispatch_arithmetic(t, op, std::forward<Fn>(fn));
}

// The unary elementwise kernels' types (CPU and CUDA alike): float16/bfloat16 (computed in
// float), float32/float64 and the integer types, uint8 included (its neg wraps, as PyTorch's: -1
// is 255). Which ops take which types is the framework's choice (framework/ops), as PyTorch's.
template <typename Fn>
decltype(auto) dispatch_unary_types(DType t, const char* op, Fn&& fn) {
  if (t == DType::Float16) return fn(type_tag<Half>{});
  if (t == DType::BFloat16) return fn(type_tag<BFloat16>{});
  if (t == DType::Int64) return fn(type_tag<int64_t>{});
  if (t == DType::Int32) return fn(type_tag<int32_t>{});
  if (t == DType::Int16) return fn(type_tag<int16_t>{});
  if (t == DType::Int8) return fn(type_tag<int8_t>{});
  if (t == DType::UInt8) return fn(type_tag<uint8_t>{});
  if (t == DType::Float32) return fn(type_tag<float>{});
  if (t == DType::Float64) return fn(type_tag<double>{});
  throw_not_arithmetic(op, t);
}

// Type promotion for binary ops, as torch.result_type for two tensors of equal category.
DType promote_types(DType a, DType b);

}  // namespace tandem
