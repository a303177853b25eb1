// Hot loops built twice, for the baseline instruction set and for AVX2, and picked at run time:
//
//   parallel_for_each_isa(rows, row_size, [&](int64_t r) TANDEM_INLINE_LAMBDA { ... });
//
// The lambda is inlined into two small functions, one plain and one with a target attribute for
// AVX2, so the same source compiles to both. The attribute sits on that one function, never on a
// whole file: no inline function compiled for AVX2 can then stand in for baseline code at link
// time (a crash on a CPU without AVX2). It enables no FMA, so the wider vectors do each lane's
// arithmetic exactly as the baseline does (nothing fused, no sum reordered): both copies give the
// same bits, and only the speed depends on the CPU. Helpers the lambda calls in its loops must be
// inlined too (TANDEM_ALWAYS_INLINE, or small enough) to be vectorised with AVX2.
#pragma once

#include <atomic>
#include <cstdint>

#include "kernels/cpu/parallel_for.h"

namespace tandem::kernels::cpu {

#define TANDEM_ALWAYS_INLINE [[gnu::always_inline]] inline
#define TANDEM_INLINE_LAMBDA __attribute__((always_inline))

// Whether the AVX2 builds are off even where the CPU has AVX2: tests set it to hold the two
// builds to the same bits.
inline std::atomic<bool>& baseline_isa_forced() {
  static std::atomic<bool> forced{false};
  return forced;
}

#if defined(__x86_64__) && defined(__GNUC__)
inline bool cpu_has_avx2() {
  static const bool has = __builtin_cpu_supports("avx2");
  return has && !baseline_isa_forced().load(std::memory_order_relaxed);
}
template <typename F>
[[gnu::target("avx2")]] void call_with_avx2(const F& f, int64_t i) {
  f(i);
}
#else
inline bool cpu_has_avx2() { return false; }
template <typename F>
void call_with_avx2(const F& f, int64_t i) {
  f(i);
}
#endif

// AVX2 with FMA, for loops whose every fused multiply-add is an explicit std::fma (which is then
// one instruction instead of a library call) and which must round a * b + c once by design.
#if defined(__x86_64__) && defined(__GNUC__)
inline bool cpu_has_avx2_fma() {
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return has;
}
template <typename F>
[[gnu::target("avx2,fma")]] void call_with_avx2_fma(const F& f, int64_t b, int64_t e) {
  f(b, e);
}
#else
inline bool cpu_has_avx2_fma() { return false; }
template <typename F>
void call_with_avx2_fma(const F& f, int64_t b, int64_t e) {
  f(b, e);
}
#endif

// parallel_for_each, with f built for AVX2 where the CPU has it.
template <typename F>
void parallel_for_each_isa(int64_t n, int64_t work, const F& f) {
  if (cpu_has_avx2())
    parallel_for_each(n, work, [&](int64_t i) { call_with_avx2(f, i); });
  else
    parallel_for_each(n, work, f);
}

}  // namespace tandem::kernels::cpu
