// add_channel_bias (see channel_bias.h): a grid-stride loop over y, each thread following its
// elements' channel (kernels/common/channel_walk.h).
#include "kernels/cuda/channel_bias.h"

#include <string>

#include "kernels/common/channel_walk.h"
#include "kernels/common/convert.h"
#include "kernels/common/opmath.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/launch.cuh"

namespace tandem::kernels::cuda {
namespace {

template <typename T>
__global__ void add_channel_bias_kernel(T* y, const T* bias, int64_t C, int64_t L, int64_t n) {
  using A = opmath_t<T>;  // float for the 16-bit types
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  ChannelIndexWalk at(thread_index(), step, C, L);
  for (int64_t i = thread_index(); i < n; i += step, at.advance()) {
    const A sum = convert_element<T, A>(y[i]) + convert_element<T, A>(bias[at.channel]);
    y[i] = convert_element<A, T>(sum);
  }
}

template <typename T>
void launch(cudaStream_t stream, void* y, const void* bias, int64_t N, int64_t C, int64_t L) {
  const int64_t n = N * C * L;
  TANDEM_LAUNCH(grid_stride_blocks(n), kThreads, 0, stream, add_channel_bias_kernel)
  (static_cast<T*>(y), static_cast<const T*>(bias), C, L, n);
}

}  // namespace

void add_channel_bias(cudaStream_t stream, DType dtype, void* y, const void* bias, int64_t N,
                      int64_t C, int64_t L) {
  if (N * C * L == 0) return;
  switch (dtype) {
    case DType::Float32:
      launch<float>(stream, y, bias, N, C, L);
      break;
    case DType::Float64:
      launch<double>(stream, y, bias, N, C, L);
      break;
    case DType::Float16:
      launch<Half>(stream, y, bias, N, C, L);
      break;
    case DType::BFloat16:
      launch<BFloat16>(stream, y, bias, N, C, L);
      break;
    default:
      throw Error(std::string("conv2d: the CUDA bias takes floating-point tensors, got ") +
                  dtype_name(dtype));
  }
  TANDEM_CUDA_CHECK(cudaGetLastError());
}

}  // namespace tandem::kernels::cuda
