// CPU elementwise kernels (unary, binary, compare, where, copy, fill): StridedLoop over strided
// operands sharing one index space, with the shared functors of
// kernels/common/elementwise_functors.h for the arithmetic (in float for float16 and bfloat16,
// kernels/common/opmath.h).
#include <cstdint>

#include "kernels/common/convert.h"
#include "kernels/common/opmath.h"
#include "kernels/cpu/register.h"
#include "kernels/cpu/strided_loop.h"

namespace tandem::kernels::cpu {
namespace {

template <typename T>
void unary(UnaryOp op, const OpParams& params, const Dims& sizes, const T* in,
           const Dims& in_strides, T* out, const Dims& out_strides) {
  StridedLoop<2> loop(sizes, {out_strides, in_strides});
  dispatch_unary(op, [&](auto tag) {
    const auto f = in_opmath<T>(Unary<opmath_t<T>, decltype(tag)::value>(params));
    loop.run_parallel(
        [&](const std::array<int64_t, 2>& off, int64_t n, const std::array<int64_t, 2>& st) {
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
void binary(BinaryOp op, const OpParams& params, const Dims& sizes, const T* a,
            const Dims& a_strides, const T* b, const Dims& b_strides, T* out,
            const Dims& out_strides) {
  StridedLoop<3> loop(sizes, {out_strides, a_strides, b_strides});
  dispatch_binary(op, [&](auto tag) {
    const auto f = in_opmath<T>(Binary<opmath_t<T>, decltype(tag)::value>(params));
    loop.run_parallel(
        [&](const std::array<int64_t, 3>& off, int64_t n, const std::array<int64_t, 3>& st) {
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
    const auto f = in_opmath<T>(Compare<opmath_t<T>, decltype(tag)::value>());
    loop.run_parallel(
        [&](const std::array<int64_t, 3>& off, int64_t n, const std::array<int64_t, 3>& st) {
          for (int64_t i = 0; i < n; ++i)
            out[off[0] + i * st[0]] = f(a[off[1] + i * st[1]], b[off[2] + i * st[2]]);
        });
  });
}

template <typename T>
void where(const Dims& sizes, const bool* cond, const Dims& c_strides, const T* a,
           const Dims& a_strides, const T* b, const Dims& b_strides, T* out,
           const Dims& out_strides) {
  StridedLoop<4> loop(sizes, {out_strides, c_strides, a_strides, b_strides});
  loop.run_parallel(
      [&](const std::array<int64_t, 4>& off, int64_t n, const std::array<int64_t, 4>& st) {
        for (int64_t i = 0; i < n; ++i)
          out[off[0] + i * st[0]] =
              cond[off[1] + i * st[1]] ? a[off[2] + i * st[2]] : b[off[3] + i * st[3]];
      });
}

template <typename Src, typename Dst>
void convert(const Dims& sizes, const Src* in, const Dims& in_strides, Dst* out,
             const Dims& out_strides) {
  StridedLoop<2> loop(sizes, {out_strides, in_strides});
  loop.run_parallel(
      [&](const std::array<int64_t, 2>& off, int64_t n, const std::array<int64_t, 2>& st) {
        Dst* o = out + off[0];
        const Src* x = in + off[1];
        if (st[0] == 1 && st[1] == 1) {
          for (int64_t i = 0; i < n; ++i) o[i] = convert_element<Src, Dst>(x[i]);
        } else {
          for (int64_t i = 0; i < n; ++i) o[i * st[0]] = convert_element<Src, Dst>(x[i * st[1]]);
        }
      });
}

template <typename T>
void fill(const Dims& sizes, T* out, const Dims& out_strides, T value) {
  StridedLoop<1> loop(sizes, {out_strides});
  loop.run_parallel(
      [&](const std::array<int64_t, 1>& off, int64_t n, const std::array<int64_t, 1>& st) {
        for (int64_t i = 0; i < n; ++i) out[off[0] + i * st[0]] = value;
      });
}

}  // namespace

// --- registered entry points ------------------------------------------------------------------

void unary_cpu(const KernelContext&, UnaryOp op, const OpParams& params, const Dims& sizes,
               const StridedBuffer& out, const StridedBuffer& in) {
  dispatch_unary_types(out.dtype, "unary", [&](auto tag) {
    using T = typename decltype(tag)::type;
    unary<T>(op, params, sizes, in.as<const T>(), in.strides, out.as<T>(), out.strides);
  });
}

void binary_cpu(const KernelContext&, BinaryOp op, const OpParams& params, const Dims& sizes,
                const StridedBuffer& out, const StridedBuffer& a, const StridedBuffer& b) {
  dispatch_arithmetic_or_half(out.dtype, "binary", [&](auto tag) {
    using T = typename decltype(tag)::type;
    binary<T>(op, params, sizes, a.as<const T>(), a.strides, b.as<const T>(), b.strides,
              out.as<T>(), out.strides);
  });
}

void compare_cpu(const KernelContext&, CompareOp op, const Dims& sizes, const StridedBuffer& out,
                 const StridedBuffer& a, const StridedBuffer& b) {
  dispatch_arithmetic_or_half(a.dtype, "compare", [&](auto tag) {
    using T = typename decltype(tag)::type;
    compare<T>(op, sizes, a.as<const T>(), a.strides, b.as<const T>(), b.strides, out.as<bool>(),
               out.strides);
  });
}

void where_cpu(const KernelContext&, const Dims& sizes, const StridedBuffer& out,
               const StridedBuffer& cond, const StridedBuffer& a, const StridedBuffer& b) {
  dispatch_all(out.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    where<T>(sizes, cond.as<const bool>(), cond.strides, a.as<const T>(), a.strides,
             b.as<const T>(), b.strides, out.as<T>(), out.strides);
  });
}

void copy_cpu(const KernelContext&, const Dims& sizes, const StridedBuffer& out,
              const StridedBuffer& in) {
  dispatch_all(in.dtype, [&](auto src_tag) {
    using S = typename decltype(src_tag)::type;
    dispatch_all(out.dtype, [&](auto dst_tag) {
      using D = typename decltype(dst_tag)::type;
      convert<S, D>(sizes, in.as<const S>(), in.strides, out.as<D>(), out.strides);
    });
  });
}

void fill_cpu(const KernelContext&, const Dims& sizes, const StridedBuffer& out, double value) {
  dispatch_all(out.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    fill<T>(sizes, out.as<T>(), out.strides, convert_element<double, T>(value));
  });
}

TANDEM_REGISTER_CPU_KERNEL(unary, unary_cpu);
TANDEM_REGISTER_CPU_KERNEL(binary, binary_cpu);
TANDEM_REGISTER_CPU_KERNEL(compare, compare_cpu);
TANDEM_REGISTER_CPU_KERNEL(where, where_cpu);
TANDEM_REGISTER_CPU_KERNEL(copy, copy_cpu);
TANDEM_REGISTER_CPU_KERNEL(fill, fill_cpu);

}  // namespace tandem::kernels::cpu
