// CPU reductions (see reduce.h).
#include "kernels/cpu/reduce.h"

#include "kernels/cpu/strided_loop.h"

namespace tandem::kernels::cpu {

template <typename T, typename Acc>
void sum_into(const Dims& sizes, const T* in, const Dims& in_strides, Acc* out, const Dims& out_strides) {
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

template void sum_into<float, double>(const Dims&, const float*, const Dims&, double*, const Dims&);
template void sum_into<double, double>(const Dims&, const double*, const Dims&, double*, const Dims&);
template void sum_into<int64_t, int64_t>(const Dims&, const int64_t*, const Dims&, int64_t*, const Dims&);
template void sum_into<int32_t, int64_t>(const Dims&, const int32_t*, const Dims&, int64_t*, const Dims&);
template void sum_into<int16_t, int64_t>(const Dims&, const int16_t*, const Dims&, int64_t*, const Dims&);
template void sum_into<int8_t, int64_t>(const Dims&, const int8_t*, const Dims&, int64_t*, const Dims&);
template void sum_into<uint8_t, int64_t>(const Dims&, const uint8_t*, const Dims&, int64_t*, const Dims&);
template void sum_into<bool, int64_t>(const Dims&, const bool*, const Dims&, int64_t*, const Dims&);

}  // namespace tandem::kernels::cpu
