// CPU reductions (float16/bfloat16 too for sum and max): sum and max over any dims of a strided
// input (one StridedLoop pass with the output given stride 0 along reduced dims, so the input is
// never copied; split across the CPU threads only along dims the output keeps, so every output
// is summed in one order for any thread count), and max along one dim with the index of its first
// occurrence.
#include <limits>
#include <vector>

#include "kernels/common/convert.h"
#include "kernels/common/opmath.h"
#include "kernels/common/row_functors.h"
#include "kernels/cpu/lane_sum.h"
#include "kernels/cpu/register.h"
#include "kernels/cpu/strided_loop.h"

namespace tandem::kernels::cpu {
namespace {

template <typename T, typename Acc>
void sum_into(const Dims& sizes, const T* in, const Dims& in_strides, Acc* out,
              const Dims& out_strides) {
  StridedLoop<2> loop(sizes, {out_strides, in_strides});
  loop.run_parallel(
      [&](const std::array<int64_t, 2>& off, int64_t n, const std::array<int64_t, 2>& st) {
        Acc* o = out + off[0];
        const T* x = in + off[1];
        if (st[0] == 0) {  // the whole run lands in one output: 8 partial sums (lane_sum.h)
          const int64_t step = st[1];
          *o += step == 1  // contiguous: a loop the compiler vectorises
                    ? lane_sum<Acc>(n, [x](int64_t i) { return convert_element<T, Acc>(x[i]); })
                    : lane_sum<Acc>(
                          n, [x, step](int64_t i) { return convert_element<T, Acc>(x[i * step]); });
        } else {
          for (int64_t i = 0; i < n; ++i) o[i * st[0]] += convert_element<T, Acc>(x[i * st[1]]);
        }
      });
}

template <typename T>
void max_into(const Dims& sizes, const T* in, const Dims& in_strides, T* out,
              const Dims& out_strides) {
  StridedLoop<2> loop(sizes, {out_strides, in_strides});
  loop.run_parallel(
      [&](const std::array<int64_t, 2>& off, int64_t n, const std::array<int64_t, 2>& st) {
        T* o = out + off[0];
        const T* x = in + off[1];
        for (int64_t i = 0; i < n; ++i) {  // float16/bfloat16 compare in float
          T& slot = o[i * st[0]];
          const opmath_t<T> s = convert_element<T, opmath_t<T>>(slot),
                            v = convert_element<T, opmath_t<T>>(x[i * st[1]]);
          if (!is_nan_value(s) && (is_nan_value(v) || v > s)) slot = x[i * st[1]];
        }
      });
}

template <typename T>
void max_along(const T* in, int64_t outer, int64_t n, int64_t inner, T* values, int64_t* indices) {
  parallel_for_each(outer, n * inner, [&](int64_t o) {
    for (int64_t j = 0; j < inner; ++j)
      max_of_row(in + o * n * inner + j, n, inner, values[o * inner + j], indices[o * inner + j]);
  });
}

// Strides of a contiguous keepdim output, 0 along the reduced dims.
Dims reduced_out_strides(const Dims& sizes, const Dims& reduced) {
  Dims keep = sizes;
  for (int64_t d : reduced) keep[size_t(d)] = 1;
  Dims st(keep.size());
  int64_t s = 1;
  for (int64_t d = int64_t(keep.size()) - 1; d >= 0; --d) {
    st[size_t(d)] = s;
    s *= keep[size_t(d)];
  }
  for (int64_t d : reduced) st[size_t(d)] = 0;
  return st;
}

int64_t kept_numel(const Dims& sizes, const Dims& reduced) {
  int64_t n = 1;
  for (size_t d = 0; d < sizes.size(); ++d) {
    bool r = false;
    for (int64_t x : reduced) r = r || x == int64_t(d);
    if (!r) n *= sizes[d];
  }
  return n;
}

}  // namespace

void sum_reduce_cpu(const KernelContext&, const Dims& sizes, const StridedBuffer& in,
                    const Dims& reduced, const Buffer& out) {
  const Dims out_strides = reduced_out_strides(sizes, reduced);
  const size_t n_out = size_t(kept_numel(sizes, reduced));
  auto finish = [&](const auto& acc) {  // accumulator -> out's dtype
    dispatch_all(out.dtype, [&](auto tag) {
      using O = typename decltype(tag)::type;
      using A = typename std::decay_t<decltype(acc)>::value_type;
      O* o = out.as<O>();
      for (size_t i = 0; i < n_out; ++i) o[i] = convert_element<A, O>(acc[i]);
    });
  };
  dispatch_all(in.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (std::is_floating_point_v<T> || is_half_v<T>) {
      thread_local std::vector<double> acc;  // its capacity stays: no allocation per call
      acc.assign(n_out, 0.0);
      sum_into<T, double>(sizes, in.as<const T>(), in.strides, acc.data(), out_strides);
      finish(acc);
    } else {
      thread_local std::vector<int64_t> acc;
      acc.assign(n_out, 0);
      sum_into<T, int64_t>(sizes, in.as<const T>(), in.strides, acc.data(), out_strides);
      finish(acc);
    }
  });
}

void max_reduce_cpu(const KernelContext&, const Dims& sizes, const StridedBuffer& in,
                    const Dims& reduced, const Buffer& out) {
  const Dims out_strides = reduced_out_strides(sizes, reduced);
  const int64_t n_out = kept_numel(sizes, reduced);
  dispatch_arithmetic_or_half(in.dtype, "max", [&](auto tag) {
    using T = typename decltype(tag)::type;
    using M = opmath_t<T>;
    T* o = out.as<T>();
    std::fill(o, o + n_out,
              convert_element<M, T>(std::numeric_limits<M>::has_infinity
                                        ? -std::numeric_limits<M>::infinity()
                                        : std::numeric_limits<M>::lowest()));
    max_into<T>(sizes, in.as<const T>(), in.strides, o, out_strides);
  });
}

void max_along_cpu(const KernelContext&, const Slab& slab, const Buffer& in, const Buffer& values,
                   const Buffer& indices) {
  dispatch_arithmetic_or_half(in.dtype, "max", [&](auto tag) {
    using T = typename decltype(tag)::type;
    max_along<T>(in.as<const T>(), slab.outer, slab.n, slab.inner, values.as<T>(),
                 indices.as<int64_t>());
  });
}

TANDEM_REGISTER_CPU_KERNEL(sum_reduce, sum_reduce_cpu);
TANDEM_REGISTER_CPU_KERNEL(max_reduce, max_reduce_cpu);
TANDEM_REGISTER_CPU_KERNEL(max_along, max_along_cpu);

}  // namespace tandem::kernels::cpu
