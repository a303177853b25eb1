// parallel_for: splits a loop over [begin, end) into one contiguous chunk per thread of
// cpu_threads() (threads.h) on OpenMP's pool, as ATen's at::parallel_for does. A loop of at most
// `grain` iterations, a single thread, or a call from inside a parallel region runs on the
// calling thread, as one chunk.
//
// Kernels split only loops whose iterations write disjoint outputs, and every output is computed
// by the same operations in the same order as in one chunk: their results are bit-identical for
// any thread count (tests/test_cpu_threads.cpp). Reductions into one value stay serial. (OpenBLAS's
// threaded sgemm is not like that: it rounds differently per thread count, and repeats itself on
// the same count.)
#pragma once

#include <algorithm>
#include <cstdint>

#include "kernels/cpu/threads.h"

namespace tandem::kernels::cpu {

// Elements below which splitting costs more than it saves (waking the pool is microseconds);
// ATen's at::internal::GRAIN_SIZE.
inline constexpr int64_t kParallelGrain = 32768;

// Iterations of a loop whose iterations each touch `work` elements that make up one grain.
inline int64_t grain_for(int64_t work) {
  return std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(1, work));
}

namespace detail {
using ChunkFn = void (*)(const void* closure, int64_t begin, int64_t end);
// The split itself, compiled once with OpenMP (parallel_for.cpp): code that includes this header
// needs no OpenMP flags.
void run_chunks(int64_t begin, int64_t end, int64_t grain, ChunkFn fn, const void* closure);
}  // namespace detail

// f(chunk_begin, chunk_end) over chunks covering [begin, end) once. An exception thrown by any
// chunk is rethrown here (the first one caught), after every chunk has finished.
template <typename F>
void parallel_for(int64_t begin, int64_t end, int64_t grain, const F& f) {
  if (end <= begin) return;
  if (end - begin <= grain || cpu_threads() == 1) return f(begin, end);
  detail::run_chunks(
      begin, end, grain,
      [](const void* closure, int64_t b, int64_t e) { (*static_cast<const F*>(closure))(b, e); },
      &f);
}

// f(i) for every i in [0, n), where item i touches about `work` elements: parallel_for over the
// items, each chunk running its items in order.
template <typename F>
void parallel_for_each(int64_t n, int64_t work, const F& f) {
  parallel_for(0, n, grain_for(work), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) f(i);
  });
}

}  // namespace tandem::kernels::cpu
