// CUDA elementwise kernels for the types and ops the CPU kernels take (unary: float32/float64,
// float16/bfloat16 computing in float (kernels/common/opmath.h), int64/int32; binary and compare:
// every arithmetic type and the half types; where: every type): one thread per output
// element, operand offsets from the linear index through the Indexer; the arithmetic is the shared
// functors' (kernels/common/elementwise_functors.h), so CPU tests cover it.
#include <cuda_runtime.h>

#include "kernels/common/opmath.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/launch.cuh"
#include "kernels/kernel_table.h"

namespace tandem::kernels::cuda {
namespace {

template <typename T, typename F>
__global__ void unary_kernel(Indexer<2> ix, int64_t n, F f, const T* in, T* out) {
  const int64_t i = thread_index();
  if (i >= n) return;
  int64_t off[2];
  ix.offsets(i, off);
  out[off[0]] = f(in[off[1]]);
}

template <typename T, typename F>
__global__ void binary_kernel(Indexer<3> ix, int64_t n, F f, const T* a, const T* b, T* out) {
  const int64_t i = thread_index();
  if (i >= n) return;
  int64_t off[3];
  ix.offsets(i, off);
  out[off[0]] = f(a[off[1]], b[off[2]]);
}

void unary_cuda(const KernelContext& ctx, UnaryOp op, const OpParams& params, const Dims& sizes,
                const StridedBuffer& out, const StridedBuffer& in) {
  const int64_t n = numel(sizes);
  if (n == 0) return;
  const Dims* strides[2] = {&out.strides, &in.strides};
  const auto ix = make_indexer<2>(sizes, strides);
  auto stream = stream_of(ctx);
  dispatch_unary_types(out.dtype, "unary", [&](auto t) {  // the CPU's types
    using T = typename decltype(t)::type;
    dispatch_unary(op, [&](auto tag) {
      const auto f = in_opmath<T>(Unary<opmath_t<T>, decltype(tag)::value>(params));
      TANDEM_LAUNCH(blocks_for(n), kThreads, 0, stream, unary_kernel)
      (ix, n, f, in.as<const T>(), out.as<T>());
    });
  });
  TANDEM_CUDA_CHECK(cudaGetLastError());
}

void binary_cuda(const KernelContext& ctx, BinaryOp op, const OpParams& params, const Dims& sizes,
                 const StridedBuffer& out, const StridedBuffer& a, const StridedBuffer& b) {
  const int64_t n = numel(sizes);
  if (n == 0) return;
  const Dims* strides[3] = {&out.strides, &a.strides, &b.strides};
  const auto ix = make_indexer<3>(sizes, strides);
  auto stream = stream_of(ctx);
  dispatch_arithmetic_or_half(out.dtype, "binary", [&](auto t) {  // the CPU's types
    using T = typename decltype(t)::type;
    dispatch_binary(op, [&](auto tag) {
      constexpr BinaryOp kOp = decltype(tag)::value;
      // Integers take the arithmetic ops; the backward helpers (gradients are floating point)
      // are not compiled for them.
      if constexpr (std::is_floating_point_v<opmath_t<T>> || kOp == BinaryOp::Add ||
                    kOp == BinaryOp::Sub || kOp == BinaryOp::Mul || kOp == BinaryOp::Div ||
                    kOp == BinaryOp::Pow || kOp == BinaryOp::Maximum || kOp == BinaryOp::Minimum) {
        const auto f = in_opmath<T>(Binary<opmath_t<T>, kOp>(params));
        TANDEM_LAUNCH(blocks_for(n), kThreads, 0, stream, binary_kernel)
        (ix, n, f, a.as<const T>(), b.as<const T>(), out.as<T>());
      } else {
        TANDEM_FAIL("binary: a gradient op on ", dtype_name(out.dtype),
                    " tensors (floating point only on CUDA)");
      }
    });
  });
  TANDEM_CUDA_CHECK(cudaGetLastError());
}

template <typename T, typename F>
__global__ void compare_kernel(Indexer<3> ix, int64_t n, F f, const T* a, const T* b, bool* out) {
  const int64_t i = thread_index();
  if (i >= n) return;
  int64_t off[3];
  ix.offsets(i, off);
  out[off[0]] = f(a[off[1]], b[off[2]]);
}

template <typename T>
__global__ void where_kernel(Indexer<4> ix, int64_t n, const bool* cond, const T* a, const T* b,
                             T* out) {
  const int64_t i = thread_index();
  if (i >= n) return;
  int64_t off[4];
  ix.offsets(i, off);
  out[off[0]] = cond[off[1]] ? a[off[2]] : b[off[3]];
}

void compare_cuda(const KernelContext& ctx, CompareOp op, const Dims& sizes,
                  const StridedBuffer& out, const StridedBuffer& a, const StridedBuffer& b) {
  const int64_t n = numel(sizes);
  if (n == 0) return;
  const Dims* strides[3] = {&out.strides, &a.strides, &b.strides};
  const auto ix = make_indexer<3>(sizes, strides);
  dispatch_arithmetic_or_half(a.dtype, "compare", [&](auto t) {
    using T = typename decltype(t)::type;
    dispatch_compare(op, [&](auto tag) {
      const auto f = in_opmath<T>(Compare<opmath_t<T>, decltype(tag)::value>());
      TANDEM_LAUNCH(blocks_for(n), kThreads, 0, stream_of(ctx), compare_kernel)
      (ix, n, f, a.as<const T>(), b.as<const T>(), out.as<bool>());
    });
  });
  TANDEM_CUDA_CHECK(cudaGetLastError());
}

void where_cuda(const KernelContext& ctx, const Dims& sizes, const StridedBuffer& out,
                const StridedBuffer& cond, const StridedBuffer& a, const StridedBuffer& b) {
  const int64_t n = numel(sizes);
  if (n == 0) return;
  const Dims* strides[4] = {&out.strides, &cond.strides, &a.strides, &b.strides};
  const auto ix = make_indexer<4>(sizes, strides);
  dispatch_all(out.dtype, [&](auto t) {
    using T = typename decltype(t)::type;
    TANDEM_LAUNCH(blocks_for(n), kThreads, 0, stream_of(ctx), where_kernel)
    (ix, n, cond.as<const bool>(), a.as<const T>(), b.as<const T>(), out.as<T>());
  });
  TANDEM_CUDA_CHECK(cudaGetLastError());
}

}  // namespace

TANDEM_REGISTER_CUDA_KERNEL(compare, compare_cuda);
TANDEM_REGISTER_CUDA_KERNEL(where, where_cuda);
TANDEM_REGISTER_CUDA_KERNEL(unary, unary_cuda);
TANDEM_REGISTER_CUDA_KERNEL(binary, binary_cuda);

}  // namespace tandem::kernels::cuda
