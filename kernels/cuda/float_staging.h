// float16 and bfloat16 operands for the CUDA kernels written for float32 and float64 (batch
// norm, pooling, softmax, upsampling; nll takes float32 and float64 only, as on the CPU), as
// kernels/cpu/float_staging.h does on the CPU: each half-type operand is widened into a float32
// block from the device caching allocator on the call's stream, the float32 kernel runs, and each
// half-type output is rounded once. Exact, and two extra passes over memory-bound kernels;
// convolution and GEMM (cuDNN, cuBLASLt) and the elementwise kernels take the half types natively.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/dispatch.h"

namespace tandem::kernels::cuda {

class FloatStaging {
 public:
  explicit FloatStaging(const KernelContext& ctx) : ctx_(ctx) {}
  FloatStaging(const FloatStaging&) = delete;
  FloatStaging& operator=(const FloatStaging&) = delete;
  // Frees the blocks into the stream's pool: their next user is ordered after this call's work.
  ~FloatStaging();

  Buffer input(const Buffer& b, int64_t n);  // b itself unless half; else a float32 copy
  Buffer output(const Buffer& b, int64_t n, bool accumulates = false);  // "+=": starts as b
  void finish();  // rounds every staged output into its half-type buffer (queued on the stream)

 private:
  struct Staged {
    Buffer half;
    void* block;
    int64_t n;
  };
  void* stage(int64_t n);
  const KernelContext& ctx_;
  std::vector<void*> blocks_;
  std::vector<Staged> outputs_;
};

}  // namespace tandem::kernels::cuda
