// convert_element<Src, Dst>: one element converted between any two of tandem's element types
// (float16/bfloat16 through float, bool as 0/1), written once for the CPU and CUDA copy
// kernels so both convert exactly alike.
#pragma once

#include <type_traits>

#include "kernels/common/half.h"
#include "kernels/common/host_device.h"

namespace tandem::kernels {

namespace convert_detail {

template <typename T>
struct Scalar {
  static TANDEM_HD double to_double(T v) { return double(v); }
  static TANDEM_HD T from_double(double v) { return T(v); }
};
template <>
struct Scalar<Half> {
  static TANDEM_HD double to_double(Half v) { return half_to_float(v); }
  static TANDEM_HD Half from_double(double v) { return float_to_half(float(v)); }
};
template <>
struct Scalar<BFloat16> {
  static TANDEM_HD double to_double(BFloat16 v) { return bfloat16_to_float(v); }
  static TANDEM_HD BFloat16 from_double(double v) { return float_to_bfloat16(float(v)); }
};
template <>
struct Scalar<bool> {
  static TANDEM_HD double to_double(bool v) { return v ? 1.0 : 0.0; }
  static TANDEM_HD bool from_double(double v) { return v != 0.0; }
};

}  // namespace convert_detail

template <typename Src, typename Dst>
TANDEM_HD Dst convert_element(Src v) {
  using convert_detail::Scalar;
  if constexpr (std::is_same_v<Src, Dst>) {
    return v;
  } else if constexpr (std::is_same_v<Src, float> && std::is_same_v<Dst, Half>) {
    return float_to_half(v);
  } else if constexpr (std::is_same_v<Src, Half> && std::is_same_v<Dst, float>) {
    return half_to_float(v);
  } else if constexpr (std::is_same_v<Src, float> && std::is_same_v<Dst, BFloat16>) {
    return float_to_bfloat16(v);
  } else if constexpr (std::is_same_v<Src, BFloat16> && std::is_same_v<Dst, float>) {
    return bfloat16_to_float(v);
  } else if constexpr (std::is_arithmetic_v<Src> && std::is_arithmetic_v<Dst> &&
                       !std::is_same_v<Dst, bool>) {
    return static_cast<Dst>(v);
  } else {
    return Scalar<Dst>::from_double(Scalar<Src>::to_double(v));
  }
}

}  // namespace tandem::kernels
