// CPU elementwise kernels: StridedLoop plus the shared functors, instantiated per dtype.
#include "kernels/cpu/elementwise.h"

#include <cstdint>

#include "kernels/common/half.h"
#include "kernels/cpu/strided_loop.h"

namespace tandem::kernels::cpu {
namespace {

// Scalar conversion between storage types, routing half/bfloat16 through float.
template <typename T>
struct Scalar {
  static double to_double(T v) { return double(v); }
  static T from_double(double v) { return T(v); }
};
template <>
struct Scalar<Half> {
  static double to_double(Half v) { return half_to_float(v); }
  static Half from_double(double v) { return float_to_half(float(v)); }
};
template <>
struct Scalar<BFloat16> {
  static double to_double(BFloat16 v) { return bfloat16_to_float(v); }
  static BFloat16 from_double(double v) { return float_to_bfloat16(float(v)); }
};
template <>
struct Scalar<bool> {
  static double to_double(bool v) { return v ? 1.0 : 0.0; }
  static bool from_double(double v) { return v != 0.0; }
};

template <typename Src, typename Dst>
inline Dst convert_one(Src v) {
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

}  // namespace

template <typename T>
void unary(UnaryOp op, const OpParams& params, const Dims& sizes, const T* in, const Dims& in_strides,
           T* out, const Dims& out_strides) {
  StridedLoop<2> loop(sizes, {out_strides, in_strides});
  dispatch_unary(op, [&](auto tag) {
    const Unary<T, decltype(tag)::value> f(params);
    loop.run([&](const std::array<int64_t, 2>& off, int64_t n, const std::array<int64_t, 2>& st) {
      T* o = out + off[0];
      const T* x = in + off[1];
      if (st[0] == 1 && st[1] == 1) {
        for (int64_t i = 0; i < n; ++i) o[i] = f(x[i]);
      } else {
        for (int64_t i = 0; i < n; ++i) o[i * st[0]] = f(x[i * st[1]]);
      }
    });
  });
}

template <typename T>
void binary(BinaryOp op, const OpParams& params, const Dims& sizes, const T* a, const Dims& a_strides,
            const T* b, const Dims& b_strides, T* out, const Dims& out_strides) {
  StridedLoop<3> loop(sizes, {out_strides, a_strides, b_strides});
  dispatch_binary(op, [&](auto tag) {
    const Binary<T, decltype(tag)::value> f(params);
    loop.run([&](const std::array<int64_t, 3>& off, int64_t n, const std::array<int64_t, 3>& st) {
      T* o = out + off[0];
      const T* x = a + off[1];
      const T* y = b + off[2];
      if (st[0] == 1 && st[1] == 1 && st[2] == 1) {
        for (int64_t i = 0; i < n; ++i) o[i] = f(x[i], y[i]);
      } else if (st[0] == 1 && st[1] == 1 && st[2] == 0) {
        const T yv = *y;
        for (int64_t i = 0; i < n; ++i) o[i] = f(x[i], yv);
      } else {
        for (int64_t i = 0; i < n; ++i) o[i * st[0]] = f(x[i * st[1]], y[i * st[2]]);
      }
    });
  });
}

template <typename T>
void compare(CompareOp op, const Dims& sizes, const T* a, const Dims& a_strides, const T* b,
             const Dims& b_strides, bool* out, const Dims& out_strides) {
  StridedLoop<3> loop(sizes, {out_strides, a_strides, b_strides});
  dispatch_compare(op, [&](auto tag) {
    const Compare<T, decltype(tag)::value> f;
    loop.run([&](const std::array<int64_t, 3>& off, int64_t n, const std::array<int64_t, 3>& st) {
      for (int64_t i = 0; i < n; ++i)
        out[off[0] + i * st[0]] = f(a[off[1] + i * st[1]], b[off[2] + i * st[2]]);
    });
  });
}

template <typename T>
void where(const Dims& sizes, const bool* cond, const Dims& c_strides, const T* a, const Dims& a_strides,
           const T* b, const Dims& b_strides, T* out, const Dims& out_strides) {
  StridedLoop<4> loop(sizes, {out_strides, c_strides, a_strides, b_strides});
  loop.run([&](const std::array<int64_t, 4>& off, int64_t n, const std::array<int64_t, 4>& st) {
    for (int64_t i = 0; i < n; ++i)
      out[off[0] + i * st[0]] =
          cond[off[1] + i * st[1]] ? a[off[2] + i * st[2]] : b[off[3] + i * st[3]];
  });
}

template <typename Src, typename Dst>
void convert(const Dims& sizes, const Src* in, const Dims& in_strides, Dst* out, const Dims& out_strides) {
  StridedLoop<2> loop(sizes, {out_strides, in_strides});
  loop.run([&](const std::array<int64_t, 2>& off, int64_t n, const std::array<int64_t, 2>& st) {
    Dst* o = out + off[0];
    const Src* x = in + off[1];
    if (st[0] == 1 && st[1] == 1) {
      for (int64_t i = 0; i < n; ++i) o[i] = convert_one<Src, Dst>(x[i]);
    } else {
      for (int64_t i = 0; i < n; ++i) o[i * st[0]] = convert_one<Src, Dst>(x[i * st[1]]);
    }
  });
}

template <typename T>
void fill(const Dims& sizes, T* out, const Dims& out_strides, T value) {
  StridedLoop<1> loop(sizes, {out_strides});
  loop.run([&](const std::array<int64_t, 1>& off, int64_t n, const std::array<int64_t, 1>& st) {
    for (int64_t i = 0; i < n; ++i) out[off[0] + i * st[0]] = value;
  });
}

#define TANDEM_ARITH_TYPES(X) X(float) X(double) X(int64_t) X(int32_t) X(int16_t) X(int8_t) X(uint8_t)
#define TANDEM_ALL_TYPES(X) TANDEM_ARITH_TYPES(X) X(bool) X(Half) X(BFloat16)

// Unary math is instantiated for signed types only (abs/sign of unsigned would be vacuous).
#define INSTANTIATE_UNARY(T)                                                                   \
  template void unary<T>(UnaryOp, const OpParams&, const Dims&, const T*, const Dims&, T*,     \
                         const Dims&);
INSTANTIATE_UNARY(float) INSTANTIATE_UNARY(double) INSTANTIATE_UNARY(int64_t) INSTANTIATE_UNARY(int32_t)

#define INSTANTIATE_ARITH(T)                                                                   \
  template void binary<T>(BinaryOp, const OpParams&, const Dims&, const T*, const Dims&,       \
                          const T*, const Dims&, T*, const Dims&);                             \
  template void compare<T>(CompareOp, const Dims&, const T*, const Dims&, const T*,            \
                           const Dims&, bool*, const Dims&);
TANDEM_ARITH_TYPES(INSTANTIATE_ARITH)

#define INSTANTIATE_ALL(T)                                                                     \
  template void where<T>(const Dims&, const bool*, const Dims&, const T*, const Dims&,         \
                         const T*, const Dims&, T*, const Dims&);                              \
  template void fill<T>(const Dims&, T*, const Dims&, T);
TANDEM_ALL_TYPES(INSTANTIATE_ALL)

#define INSTANTIATE_CONVERT_TO(Dst) INSTANTIATE_CONVERT_FROM(float, Dst) INSTANTIATE_CONVERT_FROM(double, Dst) \
  INSTANTIATE_CONVERT_FROM(int64_t, Dst) INSTANTIATE_CONVERT_FROM(int32_t, Dst)                          \
  INSTANTIATE_CONVERT_FROM(int16_t, Dst) INSTANTIATE_CONVERT_FROM(int8_t, Dst)                           \
  INSTANTIATE_CONVERT_FROM(uint8_t, Dst) INSTANTIATE_CONVERT_FROM(bool, Dst)                             \
  INSTANTIATE_CONVERT_FROM(Half, Dst) INSTANTIATE_CONVERT_FROM(BFloat16, Dst)
#define INSTANTIATE_CONVERT_FROM(Src, Dst) \
  template void convert<Src, Dst>(const Dims&, const Src*, const Dims&, Dst*, const Dims&);
TANDEM_ALL_TYPES(INSTANTIATE_CONVERT_TO)

}  // namespace tandem::kernels::cpu
