// CPU reductions (see reduce.h).
#include "kernels/cpu/reduce.h"

#include "kernels/cpu/strided_loop.h"

namespace tandem::kernels::cpu {

template <typename T, typename Acc>
void sum_into(const Dims& sizes, const T* in, const Dims& in_strides, Acc* out,
              const Dims& out_strides) {
  StridedLoop<2> loop(sizes, {out_strides, in_strides});
  loop.run([&](const std::array<int64_t, 2>& off, int64_t n, const std::array<int64_t, 2>& st) {
    Acc* o = out + off[0];
    const T* x = in + off[1];
    if (st[0] == 0) {  // the whole run lands in one output: reduce in a register
      Acc acc = 0;
      if (st[1] == 1) {
        for (int64_t i = 0; i < n; ++i) acc += Acc(x[i]);
      } else {
        for (int64_t i = 0; i < n; ++i) acc += Acc(x[i * st[1]]);
      }
      *o += acc;
    } else {
      for (int64_t i = 0; i < n; ++i) o[i * st[0]] += Acc(x[i * st[1]]);
    }
  });
}

template <typename T>
static inline bool is_nan(T v) {
  return v != v;  // false for integers
}

template <typename T>
void max_into(const Dims& sizes, const T* in, const Dims& in_strides, T* out,
              const Dims& out_strides) {
  StridedLoop<2> loop(sizes, {out_strides, in_strides});
  loop.run([&](const std::array<int64_t, 2>& off, int64_t n, const std::array<int64_t, 2>& st) {
    T* o = out + off[0];
    const T* x = in + off[1];
    for (int64_t i = 0; i < n; ++i) {
      T& slot = o[i * st[0]];
      const T v = x[i * st[1]];
      if (!is_nan(slot) && (is_nan(v) || v > slot)) slot = v;
    }
  });
}

template <typename T>
void max_along(const T* in, int64_t outer, int64_t n, int64_t inner, T* values, int64_t* indices) {
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t j = 0; j < inner; ++j) {
      const T* x = in + o * n * inner + j;
      T best = x[0];
      int64_t arg = 0;
      for (int64_t i = 1; i < n && !is_nan(best); ++i) {
        const T v = x[i * inner];
        if (is_nan(v) || v > best) {
          best = v;
          arg = i;
        }
      }
      values[o * inner + j] = best;
      indices[o * inner + j] = arg;
    }
  }
}

#define TANDEM_MAX_INSTANTIATE(T)                                                 \
  template void max_into<T>(const Dims&, const T*, const Dims&, T*, const Dims&); \
  template void max_along<T>(const T*, int64_t, int64_t, int64_t, T*, int64_t*);
TANDEM_MAX_INSTANTIATE(float)
TANDEM_MAX_INSTANTIATE(double)
TANDEM_MAX_INSTANTIATE(int64_t)
TANDEM_MAX_INSTANTIATE(int32_t)
TANDEM_MAX_INSTANTIATE(int16_t)
TANDEM_MAX_INSTANTIATE(int8_t)
TANDEM_MAX_INSTANTIATE(uint8_t)
#undef TANDEM_MAX_INSTANTIATE

template void sum_into<float, double>(const Dims&, const float*, const Dims&, double*, const Dims&);
template void sum_into<double, double>(const Dims&, const double*, const Dims&, double*,
                                       const Dims&);
template void sum_into<int64_t, int64_t>(const Dims&, const int64_t*, const Dims&, int64_t*,
                                         const Dims&);
template void sum_into<int32_t, int64_t>(const Dims&, const int32_t*, const Dims&, int64_t*,
                                         const Dims&);
template void sum_into<int16_t, int64_t>(const Dims&, const int16_t*, const Dims&, int64_t*,
                                         const Dims&);
template void sum_into<int8_t, int64_t>(const Dims&, const int8_t*, const Dims&, int64_t*,
                                        const Dims&);
template void sum_into<uint8_t, int64_t>(const Dims&, const uint8_t*, const Dims&, int64_t*,
                                         const Dims&);
template void sum_into<bool, int64_t>(const Dims&, const bool*, const Dims&, int64_t*, const Dims&);

}  // namespace tandem::kernels::cpu
