// Arithmetic on float16 and bfloat16 runs in float, as PyTorch's opmath_type: each operand is
// widened to float, the op computes in float (its scalar parameters too), and the result is
// rounded once to the storage type. Every other type computes in itself. The CPU and CUDA
// elementwise kernels both wrap the shared functors this way, so both round alike.
#pragma once

#include <type_traits>

#include "kernels/common/convert.h"
#include "kernels/common/host_device.h"

namespace tandem::kernels {

template <typename T>
inline constexpr bool is_half_v = std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>;

template <typename T>
using opmath_t = std::conditional_t<is_half_v<T>, float, T>;

// Applies F, whose operator() takes opmath_t<T> values, to T values: widens each argument,
// and rounds the result back to T unless it is a bool (a comparison).
template <typename T, typename F>
struct InOpmath {
  F f;
  template <typename... Args>
  TANDEM_HD auto operator()(Args... args) const {
    if constexpr (!is_half_v<T>) {
      return f(args...);
    } else {
      const auto r = f(convert_element<T, float>(args)...);
      if constexpr (std::is_same_v<std::decay_t<decltype(r)>, bool>)
        return r;
      else
        return convert_element<float, T>(r);
    }
  }
};

template <typename T, typename F>
TANDEM_HD InOpmath<T, F> in_opmath(const F& f) {
  return InOpmath<T, F>{f};
}

}  // namespace tandem::kernels
