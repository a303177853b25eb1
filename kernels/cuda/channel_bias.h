// y (N, C, L) += bias (C), broadcast over the batch and the L positions of each channel, on a
// CUDA stream: the convolution's bias (kernels/cuda/conv_cudnn.cpp), launched from host code that
// nvcc does not compile. float32 and float64 add in their own type; float16 and bfloat16 add in
// float32 and round once.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/common/dtype.h"

namespace tandem::kernels::cuda {

void add_channel_bias(cudaStream_t stream, DType dtype, void* y, const void* bias, int64_t N,
                      int64_t C, int64_t L);

}  // namespace tandem::kernels::cuda
