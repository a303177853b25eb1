// float16 and bfloat16 operands for the CPU kernels that compute in float32 and float64 only
// (convolution, pooling, batch normalisation, softmax, upsampling). Each half-type operand is
// widened (exactly) into a float32 block from the caching allocator, the float32 kernel runs,
// and each half-type output is rounded once: the float accumulation PyTorch's reduced-precision
// CPU kernels also use, so results agree up to the output's rounding. Operands that are already
// float32 (batch norm's parameters under autocast) pass through untouched.
//
// A slow exact fallback, not a fast path: two extra passes over each operand and no bf16
// instructions (convolutions and matrix products use oneDNN's bf16 primitives instead where the
// processor has AVX512_BF16 or AMX). Its bookkeeping is inline, so staging allocates nothing.
#pragma once

#include <cstdint>

#include "kernels/common/dtype.h"  // is_half: the types a kernel stages
#include "kernels/dispatch.h"

namespace tandem::kernels::cpu {

class FloatStaging {
 public:
  FloatStaging() = default;
  FloatStaging(const FloatStaging&) = delete;
  FloatStaging& operator=(const FloatStaging&) = delete;
  ~FloatStaging();

  // b itself unless it holds float16/bfloat16, else a float32 copy of its n elements. An
  // undefined (optional) operand stays undefined.
  Buffer input(const Buffer& b, int64_t n);
  // b itself unless half, else a float32 block that finish() rounds into b. `accumulates`: the
  // kernel adds into the output ("+="), so the block starts as a copy of b.
  Buffer output(const Buffer& b, int64_t n, bool accumulates = false);
  // Rounds every staged output into its half-type buffer. Call after the kernel ran.
  void finish();

 private:
  struct Staged {
    Buffer half;
    void* block;
    int64_t n;
  };
  void* stage(int64_t n);  // a float32 block of n elements, freed with *this
  SmallVector<void*, 6> blocks_;
  SmallVector<Staged, 3> outputs_;
};

}  // namespace tandem::kernels::cpu
