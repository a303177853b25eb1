// How the CUDA reduction (kernels/cuda/reduce.cu) spreads n_out independent reductions of n_red
// elements each over thread blocks. A block per output leaves most of a GPU idle when there are
// few outputs (a loss's mean, a gradient's norm, a channel's sum over N*H*W): then each output's
// elements are cut into `chunks` runs of `chunk_len`, a block reduces one run into a partial, and
// a second pass reduces each output's partials in order.
//
// The plan depends on the shape alone, never on the device, so a reduction adds the same values
// in the same order (the same bits) on every GPU and every run. Pure host code, tested on the CPU
// (tests/test_cuda_plans.cpp).
#pragma once

#include <cstdint>

namespace tandem::kernels {

struct ReducePlan {
  unsigned threads = 32;  // per block: a power of two, 32 to 256
  int64_t chunks = 1;     // runs per output; 1: one pass, a block per output
  int64_t chunk_len = 0;  // elements per run (the last may be shorter, never empty)
};

// Runs of at least this many elements (64 per thread of a full block) keep a block's fixed cost
// small against its reading.
constexpr int64_t kReduceMinChunk = 16384;
// Blocks to aim for when outputs are few: enough to fill a large GPU (132 SMs on an H100/H200)
// a few times over.
constexpr int64_t kReduceTargetBlocks = 512;

inline ReducePlan plan_reduction(int64_t n_out, int64_t n_red) {
  ReducePlan p;
  while (p.threads < 256u && int64_t(p.threads) < n_red) p.threads *= 2;
  p.chunk_len = n_red;
  if (n_out <= 0 || n_red <= 2 * kReduceMinChunk || n_out >= kReduceTargetBlocks) return p;
  int64_t chunks = (kReduceTargetBlocks + n_out - 1) / n_out;
  const int64_t most = n_red / kReduceMinChunk;  // >= 2 here
  if (chunks > most) chunks = most;
  if (chunks < 2) return p;
  p.chunk_len = (n_red + chunks - 1) / chunks;
  p.chunks = (n_red + p.chunk_len - 1) / p.chunk_len;  // no empty run at the end
  return p;
}

}  // namespace tandem::kernels
