// The backend contract: every kernel family tandem's ops call, declared once. A backend provides
// a family by registering a function of the family's type from its own translation unit
// (kernels/cpu/*.cpp for the CPU and, through the same registration, the emulated CUDA device;
// kernels/cuda/*.cu for real GPUs). framework/ops calls a family with the tensors' device
// context; a family without a kernel for that device is one clear error naming both.
//
// Conventions for every family:
//   - Buffers are contiguous and live on ctx.device; StridedBuffers share the `sizes` index
//     space and have stride 0 along broadcast dims. Optional operands have data == nullptr.
//   - Outputs are written in full unless the family says it accumulates ("+="), in which case
//     the caller zeroes them.
//   - Element types: the floating families take float32 and float64; elementwise, copy, fill,
//     compare, where and the reductions also take the integer types (copy/fill: every dtype);
//     unary, binary, compare, sum_reduce, max_reduce, max_along and gemm also take float16 and
//     bfloat16, computing in float (kernels/common/opmath.h); on the CPU and the emulated
//     device so do convolution, pooling, batch, group and layer norm (half input, float32 or
//     half parameters), softmax and upsampling (kernels/cpu/float_staging.h).
#pragma once

#include <array>
#include <cstdint>
#include <span>

#include "kernels/common/amp_functors.h"
#include "kernels/common/elementwise_functors.h"
#include "kernels/common/kernel_params.h"
#include "kernels/common/optim_functors.h"
#include "kernels/dispatch.h"

namespace tandem::kernels {

using Ctx = const KernelContext&;
using In = const Buffer&;
using Out = const Buffer&;
using SIn = const StridedBuffer&;
using SOut = const StridedBuffer&;

// --- elementwise (framework/ops/elementwise.cpp, activation.cpp; Tensor's in-place ops) ------
extern KernelFamily<void(Ctx, UnaryOp, const OpParams&, const Dims& sizes, SOut out, SIn in)> unary;
extern KernelFamily<void(Ctx, BinaryOp, const OpParams&, const Dims& sizes, SOut out, SIn a, SIn b)>
    binary;
extern KernelFamily<void(Ctx, CompareOp, const Dims& sizes, SOut out_bool, SIn a, SIn b)> compare;
extern KernelFamily<void(Ctx, const Dims& sizes, SOut out, SIn cond_bool, SIn a, SIn b)> where;
// out = in converted to out's dtype (any two dtypes; both on ctx.device).
extern KernelFamily<void(Ctx, const Dims& sizes, SOut out, SIn in)> copy;
extern KernelFamily<void(Ctx, const Dims& sizes, SOut out, double value)> fill;

// --- reductions (framework/ops/reduction.cpp) ------------------------------------------------
// out (contiguous, the keepdim shape: 1 along `reduced` dims) = sum of `in` over the reduced
// dims, accumulated in float64 (int64 for integer inputs) and written in out's dtype.
extern KernelFamily<void(Ctx, const Dims& sizes, SIn in, const Dims& reduced, Out out)> sum_reduce;
// Same layout; max with NaN propagating; out has in's dtype. Reduced dims are non-empty.
extern KernelFamily<void(Ctx, const Dims& sizes, SIn in, const Dims& reduced, Out out)> max_reduce;
// Along the middle dim of a contiguous (outer, n, inner) block, n > 0: the max and the index of
// its first occurrence (first NaN wins). values: in's dtype; indices: int64.
extern KernelFamily<void(Ctx, const Slab&, In in, Out values, Out indices)> max_along;

// --- matrix products (framework/ops/linalg.cpp, conv via the CPU kernels) --------------------
// c[i] = alpha * op(a[i]) @ op(b[i]) + beta * c[i], row-major, for i < shape.batch. The buffers
// are the matrices' base addresses; their layout is the shape's leading dims and batch strides.
// On the CPU also the integer types but bool, with wraparound (alpha and beta integers).
extern KernelFamily<void(Ctx, const GemmShape&, In a, In b, Out c)> gemm;

// --- convolution (NCHW; weight (Co, C/groups, kH, kW)) ---------------------------------------
extern KernelFamily<void(Ctx, const Conv2dShape&, In x, In w, In bias, Out y)> conv2d_forward;
extern KernelFamily<void(Ctx, const Conv2dShape&, In grad_y, In w, Out grad_x)>
    conv2d_backward_input;
extern KernelFamily<void(Ctx, const Conv2dShape&, In x, In grad_y, Out grad_w)>
    conv2d_backward_weight;

// --- pooling (planes of H x W; grad_in accumulates: zeroed by the caller) --------------------
// Max pooling's indices (int64) are plane-flat indices into the input, PyTorch's.
extern KernelFamily<void(Ctx, const PoolGeometry&, In in, Out out, Out indices)> max_pool2d_forward;
extern KernelFamily<void(Ctx, const PoolGeometry&, In grad_out, In indices, Out grad_in)>
    max_pool2d_backward;
// divisor_override: 0 for none.
extern KernelFamily<void(Ctx, const PoolGeometry&, bool count_include_pad, int64_t divisor_override,
                         In in, Out out)>
    avg_pool2d_forward;
extern KernelFamily<void(Ctx, const PoolGeometry&, bool count_include_pad, int64_t divisor_override,
                         In grad_out, Out grad_in)>
    avg_pool2d_backward;
extern KernelFamily<void(Ctx, const PoolGeometry&, In in, Out out)> adaptive_avg_pool2d_forward;
extern KernelFamily<void(Ctx, const PoolGeometry&, In grad_out, Out grad_in)>
    adaptive_avg_pool2d_backward;
extern KernelFamily<void(Ctx, const PoolGeometry&, In in, Out out, Out indices)>
    adaptive_max_pool2d_forward;
extern KernelFamily<void(Ctx, const PoolGeometry&, In grad_out, In indices, Out grad_in)>
    adaptive_max_pool2d_backward;
// Max unpooling inverts a max pooling of geometry g: `in` and `indices` are planes of
// out_h x out_w, `out` planes of in_h x in_w, zeroed by the caller; out[indices[i]] = in[i], the
// last i winning. An index outside the plane is a bad index (kernels/common/bad_index.h). The
// backward gathers grad_in[i] = grad_out[indices[i]] and writes grad_in in full.
extern KernelFamily<void(Ctx, const PoolGeometry&, In in, In indices, Out out)>
    max_unpool2d_forward;
extern KernelFamily<void(Ctx, const PoolGeometry&, In grad_out, In indices, Out grad_in)>
    max_unpool2d_backward;

// --- upsampling (planes; grad_in accumulates) ------------------------------------------------
extern KernelFamily<void(Ctx, const UpsampleGeometry&, In in, Out out)> upsample_nearest2d_forward;
extern KernelFamily<void(Ctx, const UpsampleGeometry&, In grad_out, Out grad_in)>
    upsample_nearest2d_backward;
extern KernelFamily<void(Ctx, const UpsampleGeometry&, In in, Out out)> upsample_bilinear2d_forward;
extern KernelFamily<void(Ctx, const UpsampleGeometry&, In grad_out, Out grad_in)>
    upsample_bilinear2d_backward;
extern KernelFamily<void(Ctx, const UpsampleGeometry&, In in, Out out)>
    upsample_nearest_exact2d_forward;
extern KernelFamily<void(Ctx, const UpsampleGeometry&, In grad_out, Out grad_in)>
    upsample_nearest_exact2d_backward;
extern KernelFamily<void(Ctx, const UpsampleGeometry&, In in, Out out)> upsample_bicubic2d_forward;
extern KernelFamily<void(Ctx, const UpsampleGeometry&, In grad_out, Out grad_in)>
    upsample_bicubic2d_backward;

// --- batch normalisation over (N, C, S); statistics are float64 ------------------------------
extern KernelFamily<void(Ctx, const ChannelLayout&, In x, Out mean, Out var)> batch_norm_stats;
// y = (x - mean) * invstd * w + b (w, b optional).
extern KernelFamily<void(Ctx, const ChannelLayout&, In x, In mean, In invstd, In w, In b, Out y)>
    batch_norm_apply;
// Training (`train`) or eval-statistics backward; writes grad_x and the per-channel sums
// sum(gy) and sum(gy * xhat) (float64) from which the bias and weight gradients come.
extern KernelFamily<void(Ctx, const ChannelLayout&, bool train, In x, In grad_y, In mean, In invstd,
                         In w, Out grad_x, Out sum_gy, Out sum_gy_xhat)>
    batch_norm_backward;

// --- group and layer normalisation over (N, G, B, S) (GroupNormLayout) -----------------------
// Per (n, g) row: mean and rstd = 1 / sqrt(biased var + eps) (float64, written to mean and rstd,
// one per row), then y = (x - mean) * rstd * w + b with w, b (optional) per (g, b) channel.
extern KernelFamily<void(Ctx, const GroupNormLayout&, double eps, In x, In w, In b, Out y, Out mean,
                         Out rstd)>
    group_norm_forward;
// grad_x (optional: null skips it) and, per channel, sum(gy) and sum(gy * xhat) (float64;
// optional together) from which the bias and weight gradients come.
extern KernelFamily<void(Ctx, const GroupNormLayout&, In x, In grad_y, In mean, In rstd, In w,
                         Out grad_x, Out sum_gy, Out sum_gy_xhat)>
    group_norm_backward;

// --- softmax along the middle dim of (outer, n, inner) ---------------------------------------
extern KernelFamily<void(Ctx, const Slab&, bool log, In in, Out out)> softmax_forward;
extern KernelFamily<void(Ctx, const Slab&, bool log, In grad, In out, Out grad_in)>
    softmax_backward;

// --- negative log-likelihood over (n, c, inner) log-probabilities, int64 targets (n, inner) ---
// A target outside [0, c) that is not ignore_index is reported (kernels/common/bad_index.h);
// nll_backward skips it.
extern KernelFamily<void(Ctx, const ClassLayout&, int64_t ignore_index, In log_probs, In target,
                         In weight, Out loss, Out sample_weight)>
    nll_forward;
// grad_in accumulates (zeroed by the caller).
extern KernelFamily<void(Ctx, const ClassLayout&, int64_t ignore_index, In grad, In target,
                         In weight, Out grad_in)>
    nll_backward;

// --- indexing along the middle dim of (outer, n, inner); indices int64 -------------------------
// index_select reports an index outside [0, n) (kernels/common/bad_index.h); index_add skips it.
// out (outer, n_index, inner) = in[:, index, :]; any dtype.
extern KernelFamily<void(Ctx, const Slab& in_slab, In in, In index, int64_t n_index, Out out)>
    index_select;
// out (outer, n, inner) [:, index[i], :] += src[:, i, :]; deterministic order.
extern KernelFamily<void(Ctx, const Slab& out_slab, In src, In index, int64_t n_index, Out out)>
    index_add;
// out[o, index[o, j], j] = src[o, j] (out zeroed by the caller).
extern KernelFamily<void(Ctx, const Slab& out_slab, In src, In index, Out out)> scatter_along;

// --- optimizer updates over a list of contiguous parameters -----------------------------------
// One parameter's buffers, each of its n elements (momentum_buf and max_exp_avg_sq optional).
struct SgdTensor {
  int64_t n;
  Buffer param, grad, momentum_buf;
  std::array<Buffer*, 3> buffers() { return {&param, &grad, &momentum_buf}; }
};
struct AdamTensor {
  int64_t n;
  Buffer param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq;
  std::array<Buffer*, 5> buffers() {
    return {&param, &grad, &exp_avg, &exp_avg_sq, &max_exp_avg_sq};
  }
};
// Every tensor of the list on ctx.device, in one dtype, updated with the same hyper-parameters:
// one call for many parameters (on a GPU, a launch per ~300 chunks of 64K elements rather than
// one per parameter: kernels/common/multi_tensor_plan.h).
extern KernelFamily<void(Ctx, const SgdParams&, std::span<const SgdTensor>)> sgd_step;
extern KernelFamily<void(Ctx, const AdamParams&, std::span<const AdamTensor>)> adam_step;

// --- mixed precision's loss scaler (framework/optim/grad_scaler.cpp) -------------------------
// Each gradient of the list (n elements, float32 or float64; one dtype per call) *= inv_scale;
// its found_inf (one float32 on its device) is set to 1 when any element was inf or NaN and left
// as it is otherwise. A list as the optimizers' (a few launches on a GPU).
struct UnscaleParams {
  float inv_scale;
  bool operator==(const UnscaleParams&) const = default;
};
struct UnscaleTensor {
  int64_t n;
  Buffer grad, found_inf;
  std::array<Buffer*, 2> buffers() { return {&grad, &found_inf}; }
};
extern KernelFamily<void(Ctx, const UnscaleParams&, std::span<const UnscaleTensor>)>
    unscale_and_check;

}  // namespace tandem::kernels
