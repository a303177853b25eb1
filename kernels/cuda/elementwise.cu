// CUDA elementwise kernels: one thread per output element, operand offsets computed from the
// linear index through up to kMaxDims sizes/strides. The arithmetic is the shared functors'.
#include "kernels/cuda/check.h"
#include "kernels/cuda/elementwise.h"

#include <stdexcept>

namespace tandem::kernels::cuda {
namespace {

constexpr int kMaxDims = 8;

template <int N>
struct Indexer {
  int ndim;
  int64_t sizes[kMaxDims];
  int64_t strides[N][kMaxDims];

  __device__ void offsets(int64_t linear, int64_t (&off)[N]) const {
    for (int k = 0; k < N; ++k) off[k] = 0;
    for (int d = ndim - 1; d >= 0; --d) {
      const int64_t i = linear % sizes[d];
      linear /= sizes[d];
      for (int k = 0; k < N; ++k) off[k] += i * strides[k][d];
    }
  }
};

template <int N>
Indexer<N> make_indexer(const Dims& sizes, const Dims* const (&strides)[N]) {
  if (sizes.size() > size_t(kMaxDims)) throw std::runtime_error("cuda elementwise: more than 8 dims");
  Indexer<N> ix{};
  ix.ndim = int(sizes.size());
  for (size_t d = 0; d < sizes.size(); ++d) {
    ix.sizes[d] = sizes[d];
    for (int k = 0; k < N; ++k) ix.strides[k][d] = (*strides[k])[d];
  }
  return ix;
}

int64_t numel(const Dims& sizes) {
  int64_t n = 1;
  for (int64_t s : sizes) n *= s;
  return n;
}

template <typename T, typename F>
__global__ void unary_kernel(Indexer<2> ix, int64_t n, F f, const T* in, T* out) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  int64_t off[2];
  ix.offsets(i, off);
  out[off[0]] = f(in[off[1]]);
}

template <typename T, typename F>
__global__ void binary_kernel(Indexer<3> ix, int64_t n, F f, const T* a, const T* b, T* out) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  int64_t off[3];
  ix.offsets(i, off);
  out[off[0]] = f(a[off[1]], b[off[2]]);
}

constexpr int kThreads = 256;
unsigned blocks_for(int64_t n) { return unsigned((n + kThreads - 1) / kThreads); }

}  // namespace

template <typename T>
void unary(UnaryOp op, const OpParams& params, const Dims& sizes, const T* in, const Dims& in_strides,
           T* out, const Dims& out_strides) {
  const int64_t n = numel(sizes);
  if (n == 0) return;
  const Dims* strides[2] = {&out_strides, &in_strides};
  auto ix = make_indexer<2>(sizes, strides);
  dispatch_unary(op, [&](auto tag) {
    Unary<T, decltype(tag)::value> f(params);
    unary_kernel<<<blocks_for(n), kThreads>>>(ix, n, f, in, out);
  });
  TANDEM_CUDA_CHECK(cudaGetLastError());
}

template <typename T>
void binary(BinaryOp op, const OpParams& params, const Dims& sizes, const T* a, const Dims& a_strides,
            const T* b, const Dims& b_strides, T* out, const Dims& out_strides) {
  const int64_t n = numel(sizes);
  if (n == 0) return;
  const Dims* strides[3] = {&out_strides, &a_strides, &b_strides};
  auto ix = make_indexer<3>(sizes, strides);
  dispatch_binary(op, [&](auto tag) {
    Binary<T, decltype(tag)::value> f(params);
    binary_kernel<<<blocks_for(n), kThreads>>>(ix, n, f, a, b, out);
  });
  TANDEM_CUDA_CHECK(cudaGetLastError());
}

template void unary<float>(UnaryOp, const OpParams&, const Dims&, const float*, const Dims&, float*, const Dims&);
template void unary<double>(UnaryOp, const OpParams&, const Dims&, const double*, const Dims&, double*, const Dims&);
template void binary<float>(BinaryOp, const OpParams&, const Dims&, const float*, const Dims&, const float*,
                            const Dims&, float*, const Dims&);
template void binary<double>(BinaryOp, const OpParams&, const Dims&, const double*, const Dims&, const double*,
                             const Dims&, double*, const Dims&);

}  // namespace tandem::kernels::cuda
