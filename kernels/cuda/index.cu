// CUDA gather/scatter along the middle dim of a contiguous (outer, n, inner) block, without
// floating-point atomics so every run gives the same bits: index_select (a thread per output
// element), index_add (a thread per (o, j) column walking the indices in order, so no two
// threads write one element) and the scatter of max(dim)'s gradient.
#include <cuda_runtime.h>

#include "kernels/cuda/bad_index_report.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/launch.cuh"
#include "kernels/kernel_table.h"

namespace tandem::kernels::cuda {
namespace {

// Copies element size bytes as one of the integer types of that size. A bad index is reported
// (kernels/common/bad_index.h) and its output is zero.
template <typename Word>
__global__ void index_select_kernel(const Word* in, int64_t outer, int64_t n, int64_t inner,
                                    const int64_t* index, int64_t n_index, BadIndexReport* report,
                                    Word* out) {
  const int64_t e = thread_index();
  if (e >= outer * n_index * inner) return;
  const int64_t j = e % inner, i = (e / inner) % n_index, o = e / (inner * n_index);
  const int64_t k = index[i];
  if (!index_in_range(k, n)) {
    report_bad_index(report, BadIndexKind::Index, k, n);
    out[e] = Word(0);
    return;
  }
  out[e] = in[(o * n + k) * inner + j];
}

// index_select into an empty output still checks its indices, as the CPU does: a thread per index.
__global__ void check_indices_kernel(const int64_t* index, int64_t n_index, int64_t n,
                                     BadIndexReport* report) {
  const int64_t i = thread_index();
  if (i < n_index && !index_in_range(index[i], n))
    report_bad_index(report, BadIndexKind::Index, index[i], n);
}

template <typename T>
__global__ void index_add_kernel(const T* src, int64_t outer, int64_t n_index, int64_t inner,
                                 const int64_t* index, T* out, int64_t n) {
  const int64_t col = thread_index();
  if (col >= outer * inner) return;
  const int64_t o = col / inner, j = col % inner;
  for (int64_t i = 0; i < n_index; ++i)
    if (index_in_range(index[i], n))  // a bad one was reported by index_select
      out[(o * n + index[i]) * inner + j] += src[(o * n_index + i) * inner + j];
}

template <typename T>
__global__ void scatter_along_kernel(const T* src, const int64_t* index, int64_t outer, int64_t n,
                                     int64_t inner, T* out) {
  const int64_t e = thread_index();
  if (e >= outer * inner) return;
  const int64_t o = e / inner, j = e % inner;
  out[(o * n + index[e]) * inner + j] = src[e];
}

template <typename Word>
void launch_select(const KernelContext& ctx, const Slab& s, const Buffer& in, const Buffer& index,
                   int64_t n_index, const Buffer& out) {
  const int64_t total = s.outer * n_index * s.inner;
  TANDEM_LAUNCH(blocks_for(total), kThreads, 0, stream_of(ctx), index_select_kernel)
  (in.as<const Word>(), s.outer, s.n, s.inner, index.as<const int64_t>(), n_index,
   bad_index_report(), out.as<Word>());
}

void index_select_cuda(const KernelContext& ctx, const Slab& s, const Buffer& in,
                       const Buffer& index, int64_t n_index, const Buffer& out) {
  if (n_index == 0) return;
  if (s.outer * s.inner == 0) {  // nothing to copy, the indices to check
    TANDEM_LAUNCH(blocks_for(n_index), kThreads, 0, stream_of(ctx), check_indices_kernel)
    (index.as<const int64_t>(), n_index, s.n, bad_index_report());
    TANDEM_CUDA_CHECK(cudaGetLastError());
    return;
  }
  switch (element_size(in.dtype)) {
    case 1:
      launch_select<uint8_t>(ctx, s, in, index, n_index, out);
      break;
    case 2:
      launch_select<uint16_t>(ctx, s, in, index, n_index, out);
      break;
    case 4:
      launch_select<uint32_t>(ctx, s, in, index, n_index, out);
      break;
    default:
      launch_select<uint64_t>(ctx, s, in, index, n_index, out);
      break;
  }
  TANDEM_CUDA_CHECK(cudaGetLastError());
}

void index_add_cuda(const KernelContext& ctx, const Slab& s, const Buffer& src, const Buffer& index,
                    int64_t n_index, const Buffer& out) {
  if (s.outer * s.inner == 0 || n_index == 0) return;
  dispatch_cuda_floating(src.dtype, "index_add", [&](auto tag) {
    using T = typename decltype(tag)::type;
    TANDEM_LAUNCH(blocks_for(s.outer * s.inner), kThreads, 0, stream_of(ctx), index_add_kernel)
    (src.as<const T>(), s.outer, n_index, s.inner, index.as<const int64_t>(), out.as<T>(), s.n);
  });
  TANDEM_CUDA_CHECK(cudaGetLastError());
}

void scatter_along_cuda(const KernelContext& ctx, const Slab& s, const Buffer& src,
                        const Buffer& index, const Buffer& out) {
  if (s.outer * s.inner == 0) return;
  dispatch_cuda_floating(src.dtype, "scatter", [&](auto tag) {
    using T = typename decltype(tag)::type;
    TANDEM_LAUNCH(blocks_for(s.outer * s.inner), kThreads, 0, stream_of(ctx), scatter_along_kernel)
    (src.as<const T>(), index.as<const int64_t>(), s.outer, s.n, s.inner, out.as<T>());
  });
  TANDEM_CUDA_CHECK(cudaGetLastError());
}

}  // namespace

TANDEM_REGISTER_CUDA_KERNEL(index_select, index_select_cuda);
TANDEM_REGISTER_CUDA_KERNEL(index_add, index_add_cuda);
TANDEM_REGISTER_CUDA_KERNEL(scatter_along, scatter_along_cuda);

}  // namespace tandem::kernels::cuda
