// lane_sum: a sum over n terms (in double by default) with 8 independent partial sums, so the
// additions do not wait on one another: the loop runs at the adders' throughput and vectorises,
// instead of one dependent add (4 cycles) per element. The order is fixed (lane by lane, then a
// fixed tree), so the result depends only on the terms, never on threads. lane_sum2 makes two
// such sums in one pass over the data, each with the bits lane_sum would give it. Both always
// inline, so an AVX2 build of their caller (isa.h) vectorises them with AVX2 too. Both always
// inline, so an AVX2 build of their caller (isa.h) vectorises them with AVX2 too.
#pragma once

#include <cstdint>
#include <utility>  // std::pair

#include "kernels/cpu/isa.h"

namespace tandem::kernels::cpu {

// sum of term(s) for s in [0, n), accumulated in Acc.
template <typename Acc = double, typename F>
TANDEM_ALWAYS_INLINE Acc lane_sum(int64_t n, F term) {
  constexpr int kLanes = 8;
  Acc acc[kLanes] = {};
  int64_t s = 0;
  for (; s + kLanes <= n; s += kLanes)
    for (int l = 0; l < kLanes; ++l) acc[l] += term(s + l);
  Acc tail = 0;
  for (; s < n; ++s) tail += term(s);
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7])) + tail;
}

// The sums of term(s).first and term(s).second for s in [0, n), in the order of lane_sum.
template <typename Acc = double, typename F>
TANDEM_ALWAYS_INLINE std::pair<Acc, Acc> lane_sum2(int64_t n, F term) {
  constexpr int kLanes = 8;
  Acc a[kLanes] = {}, b[kLanes] = {};
  int64_t s = 0;
  for (; s + kLanes <= n; s += kLanes)
    for (int l = 0; l < kLanes; ++l) {
      const std::pair<Acc, Acc> t = term(s + l);
      a[l] += t.first;
      b[l] += t.second;
    }
  Acc ta = 0, tb = 0;
  for (; s < n; ++s) {
    const std::pair<Acc, Acc> t = term(s);
    ta += t.first;
    tb += t.second;
  }
  return {((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7])) + ta,
          ((b[0] + b[1]) + (b[2] + b[3])) + ((b[4] + b[5]) + (b[6] + b[7])) + tb};
}

}  // namespace tandem::kernels::cpu
