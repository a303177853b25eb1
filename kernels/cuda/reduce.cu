// CUDA reductions over any dims of a strided input (sum_reduce, max_reduce): a block per output
// element, or, when outputs are few, a block per run of an output's elements and a second pass
// over the runs' partials (kernels/common/reduce_plan.h); a block's threads walk their elements
// in a fixed assignment and combine their partial results in a shared-memory tree of fixed shape,
// so a run gives the same bits every time (no atomics). Sums accumulate in float64 (int64 for
// integers), as on the CPU; max propagates NaN and compares float16/bfloat16 in float.
#include <cuda_runtime.h>

#include <cmath>
#include <limits>

#include "kernels/common/convert.h"
#include "kernels/common/opmath.h"
#include "kernels/common/reduce_plan.h"
#include "kernels/common/row_functors.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/launch.cuh"
#include "kernels/device/caching_allocator.h"
#include "kernels/kernel_table.h"

namespace tandem::kernels::cuda {
namespace {

constexpr int kMaxGrid = 65535;

struct SumOp {
  template <typename A>
  __device__ A operator()(A a, A b) const {
    return a + b;
  }
};

struct MaxOp {  // NaN wins once seen, as the CPU kernel
  template <typename A>
  __device__ A operator()(A a, A b) const {
    if (is_nan_value(a)) return a;
    return is_nan_value(b) || b > a ? b : a;
  }
};

// Work item w = o * chunks + c reduces run c (elements [c * chunk_len, (c + 1) * chunk_len) of
// n_red) of output o into out[w]: with one run per output, the output itself; else a partial that
// a second launch reduces.
template <typename T, typename Acc, typename O, typename Op>
__global__ void reduce_kernel(Indexer<1> kept, Indexer<1> reduced, int64_t n_out, int64_t n_red,
                              int64_t chunks, int64_t chunk_len, const T* in, O* out, Acc init,
                              Op op) {
  Acc* part = dynamic_shared<Acc>();  // blockDim.x of them
  for (int64_t w = blockIdx.x; w < n_out * chunks; w += gridDim.x) {
    const int64_t o = w / chunks, begin = (w % chunks) * chunk_len;
    const int64_t end = begin + chunk_len < n_red ? begin + chunk_len : n_red;
    int64_t base[1];
    kept.offsets(o, base);
    Acc acc = init;
    for (int64_t r = begin + threadIdx.x; r < end; r += blockDim.x) {
      int64_t off[1];
      reduced.offsets(r, off);
      acc = op(acc, convert_element<T, Acc>(in[base[0] + off[0]]));
    }
    part[threadIdx.x] = acc;
    __syncthreads();
    for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
      if (threadIdx.x < s) part[threadIdx.x] = op(part[threadIdx.x], part[threadIdx.x + s]);
      __syncthreads();
    }
    if (threadIdx.x == 0) out[w] = convert_element<Acc, O>(part[0]);
    __syncthreads();
  }
}

// The kept and the reduced dims of the index space as two Indexers over the input's strides.
struct Split {
  Dims kept_sizes, kept_strides, red_sizes, red_strides;
  int64_t n_out = 1, n_red = 1;
};

Split split_dims(const Dims& sizes, const Dims& strides, const Dims& reduced) {
  Split s;
  for (size_t d = 0; d < sizes.size(); ++d) {
    bool r = false;
    for (int64_t x : reduced) r = r || x == int64_t(d);
    (r ? s.red_sizes : s.kept_sizes).push_back(sizes[d]);
    (r ? s.red_strides : s.kept_strides).push_back(strides[d]);
    (r ? s.n_red : s.n_out) *= sizes[d];
  }
  return s;
}

template <typename T, typename Acc, typename O, typename Op>
void launch_pass(const KernelContext& ctx, const Indexer<1>& kept, const Indexer<1>& red,
                 int64_t n_out, int64_t n_red, const ReducePlan& p, const T* in, O* out, Acc init,
                 Op op) {
  const int64_t items = n_out * p.chunks;
  const unsigned grid = unsigned(items < kMaxGrid ? items : kMaxGrid);
  TANDEM_LAUNCH(grid, p.threads, p.threads * sizeof(Acc), stream_of(ctx), reduce_kernel)
  (kept, red, n_out, n_red, p.chunks, p.chunk_len, in, out, init, op);
  TANDEM_CUDA_CHECK(cudaGetLastError());
}

// One pass when the plan has a run per output; else runs into partials (Acc, from the caching
// allocator on the call's stream), then each output's partials reduced in order.
template <typename T, typename Acc, typename O, typename Op>
void launch(const KernelContext& ctx, const Split& s, const T* in, O* out, Acc init, Op op) {
  const Dims* ks[1] = {&s.kept_strides};
  const Dims* rs[1] = {&s.red_strides};
  const auto kept = make_indexer<1>(s.kept_sizes, ks);
  const auto red = make_indexer<1>(s.red_sizes, rs);
  const ReducePlan p = plan_reduction(s.n_out, s.n_red);
  if (p.chunks == 1) return launch_pass(ctx, kept, red, s.n_out, s.n_red, p, in, out, init, op);
  auto& allocator = device::device_allocator();
  Acc* partials = static_cast<Acc*>(
      allocator.allocate(size_t(s.n_out * p.chunks) * sizeof(Acc), ctx.device.index, ctx.stream));
  try {
    launch_pass(ctx, kept, red, s.n_out, s.n_red, p, in, partials, init, op);
    // Output o's partials are partials[o * chunks, (o + 1) * chunks).
    const Dims out_sizes{s.n_out}, out_strides{p.chunks}, run_sizes{p.chunks}, run_strides{1};
    const Dims* os[1] = {&out_strides};
    const Dims* ps[1] = {&run_strides};
    const ReducePlan second = plan_reduction(s.n_out, p.chunks);  // one run: chunks < 2 * 16384
    launch_pass(ctx, make_indexer<1>(out_sizes, os), make_indexer<1>(run_sizes, ps), s.n_out,
                p.chunks, second, static_cast<const Acc*>(partials), out, init, op);
  } catch (...) {
    allocator.free(partials);
    throw;
  }
  // Freed at once: the block returns to this stream's pool, so its next user is ordered after.
  allocator.free(partials);
}

void sum_reduce_cuda(const KernelContext& ctx, const Dims& sizes, const StridedBuffer& in,
                     const Dims& reduced, const Buffer& out) {
  const Split s = split_dims(sizes, in.strides, reduced);
  if (s.n_out == 0) return;
  dispatch_all(in.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    {
      using Acc = std::conditional_t<std::is_floating_point_v<T> || is_half_v<T>, double, int64_t>;
      auto to = [&](auto out_tag) {
        using O = typename decltype(out_tag)::type;
        launch(ctx, s, in.as<const T>(), out.as<O>(), Acc(0), SumOp{});
      };
      switch (out.dtype) {
        case DType::Float32:
          return to(type_tag<float>{});
        case DType::Float64:
          return to(type_tag<double>{});
        case DType::Int64:
          return to(type_tag<int64_t>{});
        case DType::Float16:
          return to(type_tag<Half>{});
        case DType::BFloat16:
          return to(type_tag<BFloat16>{});
        default:
          throw Error(std::string("sum: the CUDA kernel writes a floating type or int64, got ") +
                      dtype_name(out.dtype));
      }
    }
  });
}

void max_reduce_cuda(const KernelContext& ctx, const Dims& sizes, const StridedBuffer& in,
                     const Dims& reduced, const Buffer& out) {
  const Split s = split_dims(sizes, in.strides, reduced);
  if (s.n_out == 0) return;
  dispatch_arithmetic_or_half(in.dtype, "max", [&](auto tag) {
    using T = typename decltype(tag)::type;
    using M = opmath_t<T>;
    const M lowest = std::numeric_limits<M>::has_infinity ? -std::numeric_limits<M>::infinity()
                                                          : std::numeric_limits<M>::lowest();
    launch(ctx, s, in.as<const T>(), out.as<T>(), lowest, MaxOp{});
  });
}

}  // namespace

TANDEM_REGISTER_CUDA_KERNEL(sum_reduce, sum_reduce_cuda);
TANDEM_REGISTER_CUDA_KERNEL(max_reduce, max_reduce_cuda);

}  // namespace tandem::kernels::cuda
