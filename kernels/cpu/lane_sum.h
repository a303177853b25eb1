// lane_sum: a sum over n terms (in double by default) with 8 independent partial sums, so the
// additions do not wait on one another: the loop runs at the adders' throughput and vectorises,
// instead of one dependent add (4 cycles) per element. The order is fixed (lane by lane, then a
// fixed tree), so the result depends only on the terms, never on threads.
#pragma once

#include <cstdint>

namespace tandem::kernels::cpu {

// sum of term(s) for s in [0, n), accumulated in Acc.
template <typename Acc = double, typename F>
Acc lane_sum(int64_t n, F term) {
  constexpr int kLanes = 8;
  Acc acc[kLanes] = {};
  int64_t s = 0;
  for (; s + kLanes <= n; s += kLanes)
    for (int l = 0; l < kLanes; ++l) acc[l] += term(s + l);
  Acc tail = 0;
  for (; s < n; ++s) tail += term(s);
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7])) + tail;
}

}  // namespace tandem::kernels::cpu
