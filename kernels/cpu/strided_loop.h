// The one loop every CPU elementwise kernel runs: N operands that share an index space `sizes`,
// each with its own strides (in elements). Adjacent dims that are laid out back to back in
// every operand are merged first, so contiguous tensors become a single flat inner loop that
// the compiler vectorises; broadcast operands have stride 0.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace tandem::kernels::cpu {

template <size_t N>
struct StridedLoop {
  std::vector<int64_t> sizes;
  std::array<std::vector<int64_t>, N> strides;

  StridedLoop(const std::vector<int64_t>& sz, const std::array<std::vector<int64_t>, N>& st)
      : sizes(sz), strides(st) {
    coalesce();
  }

  // inner(offsets, n, inner_strides): offsets[k] is the element offset of operand k at the start
  // of a run of n elements along the innermost dim.
  template <typename Inner>
  void run(Inner&& inner) const {
    const int64_t nd = int64_t(sizes.size());
    for (int64_t s : sizes)
      if (s == 0) return;
    std::array<int64_t, N> inner_strides{};
    for (size_t k = 0; k < N; ++k) inner_strides[k] = nd ? strides[k][nd - 1] : 0;
    const int64_t n = nd ? sizes[nd - 1] : 1;
    std::vector<int64_t> counter(nd > 0 ? nd - 1 : 0, 0);
    std::array<int64_t, N> offsets{};
    while (true) {
      inner(offsets, n, inner_strides);
      // Odometer increment over the outer dims.
      int64_t d = nd - 2;
      for (; d >= 0; --d) {
        if (++counter[d] < sizes[d]) {
          for (size_t k = 0; k < N; ++k) offsets[k] += strides[k][d];
          break;
        }
        for (size_t k = 0; k < N; ++k) offsets[k] -= strides[k][d] * (sizes[d] - 1);
        counter[d] = 0;
      }
      if (d < 0) return;
    }
  }

 private:
  void coalesce() {
    // Drop size-1 dims, then merge dim i into i+1 when every operand has stride[i] ==
    // stride[i+1] * size[i+1].
    std::vector<int64_t> sz;
    std::array<std::vector<int64_t>, N> st;
    for (size_t d = 0; d < sizes.size(); ++d) {
      if (sizes[d] == 1) continue;
      sz.push_back(sizes[d]);
      for (size_t k = 0; k < N; ++k) st[k].push_back(strides[k][d]);
    }
    std::vector<int64_t> out_sz;
    std::array<std::vector<int64_t>, N> out_st;
    for (size_t d = 0; d < sz.size(); ++d) {
      if (!out_sz.empty()) {
        bool mergeable = true;
        for (size_t k = 0; k < N; ++k)
          if (out_st[k].back() != st[k][d] * sz[d]) mergeable = false;
        if (mergeable) {
          out_sz.back() *= sz[d];
          for (size_t k = 0; k < N; ++k) out_st[k].back() = st[k][d];
          continue;
        }
      }
      out_sz.push_back(sz[d]);
      for (size_t k = 0; k < N; ++k) out_st[k].push_back(st[k][d]);
    }
    sizes = std::move(out_sz);
    strides = std::move(out_st);
  }
};

}  // namespace tandem::kernels::cpu
