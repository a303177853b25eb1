// CUDA strided copies with dtype conversion and fills: the device side of Tensor::copy_, to(),
// contiguous() and fill_(). Conversions go through kernels/common/convert.h, the same
// element conversion the CPU kernels use.
#include <cuda_runtime.h>

#include "kernels/common/convert.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/launch.cuh"
#include "kernels/kernel_table.h"

namespace tandem::kernels::cuda {
namespace {

template <typename Src, typename Dst>
__global__ void copy_kernel(Indexer<2> ix, int64_t n, const Src* in, Dst* out) {
  const int64_t i = thread_index();
  if (i >= n) return;
  int64_t off[2];
  ix.offsets(i, off);
  out[off[0]] = convert_element<Src, Dst>(in[off[1]]);
}

template <typename T>
__global__ void fill_kernel(Indexer<1> ix, int64_t n, T value, T* out) {
  const int64_t i = thread_index();
  if (i >= n) return;
  int64_t off[1];
  ix.offsets(i, off);
  out[off[0]] = value;
}

void copy_cuda(const KernelContext& ctx, const Dims& sizes, const StridedBuffer& out,
               const StridedBuffer& in) {
  const int64_t n = numel(sizes);
  if (n == 0) return;
  const Dims* strides[2] = {&out.strides, &in.strides};
  const auto ix = make_indexer<2>(sizes, strides);
  auto stream = stream_of(ctx);
  dispatch_all(in.dtype, [&](auto src_tag) {
    using S = typename decltype(src_tag)::type;
    dispatch_all(out.dtype, [&](auto dst_tag) {
      using D = typename decltype(dst_tag)::type;
      TANDEM_LAUNCH(blocks_for(n), kThreads, 0, stream, copy_kernel)
      (ix, n, in.as<const S>(), out.as<D>());
    });
  });
  TANDEM_CUDA_CHECK(cudaGetLastError());
}

void fill_cuda(const KernelContext& ctx, const Dims& sizes, const StridedBuffer& out,
               double value) {
  const int64_t n = numel(sizes);
  if (n == 0) return;
  const Dims* strides[1] = {&out.strides};
  const auto ix = make_indexer<1>(sizes, strides);
  auto stream = stream_of(ctx);
  dispatch_all(out.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    TANDEM_LAUNCH(blocks_for(n), kThreads, 0, stream, fill_kernel)
    (ix, n, convert_element<double, T>(value), out.as<T>());
  });
  TANDEM_CUDA_CHECK(cudaGetLastError());
}

}  // namespace

TANDEM_REGISTER_CUDA_KERNEL(copy, copy_cuda);
TANDEM_REGISTER_CUDA_KERNEL(fill, fill_cuda);

}  // namespace tandem::kernels::cuda
