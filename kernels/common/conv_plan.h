// How a convolution of the kernel table (Conv2dShape) becomes cuDNN's legacy convolution
// descriptors, and which of the algorithms cuDNN's heuristic offers may run. Pure host code
// without cuDNN types (the CUDA file kernels/cuda/conv_cudnn.cpp maps these values onto
// cudnnSetTensor4dDescriptorEx, cudnnSetFilter4dDescriptor, cudnnSetConvolution2dDescriptor,
// cudnnSetConvolutionGroupCount and cudnnSetConvolutionMathType), so the mapping is tested on the
// CPU (tests/test_conv_plan.cpp) against the CPU convolution.
//
//   - Tensors are fully packed NCHW: x (n, C, H, W), y (n, Co, oh, ow), the filter
//     (Co, C/groups, kh, kw); cross-correlation, as PyTorch; groups as cuDNN's group count.
//   - cuDNN's descriptors hold ints and its kernels index with 32 bits, so a batch whose input or
//     output has more than INT_MAX elements runs as several calls over consecutive images
//     (conv_chunks); the weight-gradient accumulates over them.
//   - cuDNN rejects zero-sized dims: a convolution with an empty x, weight or y (conv_is_empty)
//     has an all-zero result (plus the bias) and never reaches cuDNN.
//   - Math: float32 runs in FMA (IEEE float) unless TF32 is allowed; cuDNN's CUDNN_DEFAULT_MATH
//     already permits TF32 on Ampere and later, so it is only used when TF32 is. float16 and
//     bfloat16 use tensor cores and accumulate in float32; float64 computes in float64.
#pragma once

#include <climits>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/common/dtype.h"
#include "kernels/common/error.h"
#include "kernels/common/kernel_params.h"
#include "kernels/common/math_options.h"

namespace tandem::kernels {

// Output size of a convolution along one axis: PyTorch's formula, which is also cuDNN's.
inline int64_t conv_output_size(int64_t in, int64_t kernel, int64_t pad, int64_t stride,
                                int64_t dilation) {
  return (in + 2 * pad - dilation * (kernel - 1) - 1) / stride + 1;
}

// Whether the input, the weight or the output has no elements (cuDNN takes no zero-sized dim).
inline bool conv_is_empty(const Conv2dShape& s) {
  return s.N * s.C * s.H * s.W == 0 ||
         s.Co * (s.groups > 0 ? s.C / s.groups : 0) * s.kh * s.kw == 0 ||
         s.N * s.Co * s.oh * s.ow == 0;
}

// Consecutive images [first, first + count) that one cuDNN call handles.
struct ConvChunk {
  int64_t first, count;
};

// The batch cut into calls whose input and output each have at most max_elements (INT_MAX for
// cuDNN) elements; empty for an empty batch. Throws when one image alone is too big.
inline std::vector<ConvChunk> conv_chunks(const Conv2dShape& s, int64_t max_elements = INT_MAX) {
  const int64_t per_image_x = s.C * s.H * s.W, per_image_y = s.Co * s.oh * s.ow;
  const int64_t per_image = per_image_x > per_image_y ? per_image_x : per_image_y;
  TANDEM_CHECK(per_image <= max_elements, "conv2d: one image of the input (", per_image_x,
               " elements) or output (", per_image_y, " elements) exceeds cuDNN's limit of ",
               max_elements, " elements per tensor");
  const int64_t step = per_image > 0 ? max_elements / per_image : s.N;
  std::vector<ConvChunk> chunks;
  for (int64_t first = 0; first < s.N; first += step)
    chunks.push_back({first, s.N - first < step ? s.N - first : step});
  return chunks;
}

// cuDNN's descriptors for one call (dims and strides are ints, as cuDNN takes them).
struct CudnnConvPlan {
  int x[4], x_strides[4];  // (n, C, H, W), fully packed
  int w[4];                // (Co, C / groups, kh, kw), NCHW filter
  int y[4], y_strides[4];  // (n, Co, oh, ow), fully packed
  int pad[2], stride[2], dilation[2];
  int groups;
};

// The descriptors for `s` (its N images in one call: pass a chunk's count as N). Throws for a
// convolution cuDNN cannot describe: inconsistent groups, an output size other than the formula's
// (a transposed convolution with output_padding >= stride), a dim or tensor beyond int.
inline CudnnConvPlan cudnn_conv_plan(const Conv2dShape& s) {
  TANDEM_CHECK(s.stride_h > 0 && s.stride_w > 0 && s.dilation_h > 0 && s.dilation_w > 0,
               "conv2d: strides and dilations must be positive");
  TANDEM_CHECK(s.groups > 0 && s.C % s.groups == 0 && s.Co % s.groups == 0, "conv2d: ", s.C,
               " input and ", s.Co, " output channels do not split into ", s.groups, " groups");
  const int64_t oh = conv_output_size(s.H, s.kh, s.pad_h, s.stride_h, s.dilation_h);
  const int64_t ow = conv_output_size(s.W, s.kw, s.pad_w, s.stride_w, s.dilation_w);
  TANDEM_CHECK(oh == s.oh && ow == s.ow, "conv2d: cuDNN computes a ", oh, "x", ow, " output for a ",
               s.H, "x", s.W, " input, not the ", s.oh, "x", s.ow,
               " asked for (a transposed convolution's output_padding of at least its stride is "
               "not supported on CUDA)");
  const int64_t values[] = {s.N,
                            s.C,
                            s.H,
                            s.W,
                            s.Co,
                            s.kh,
                            s.kw,
                            s.oh,
                            s.ow,
                            s.pad_h,
                            s.pad_w,
                            s.stride_h,
                            s.stride_w,
                            s.dilation_h,
                            s.dilation_w,
                            s.N * s.C * s.H * s.W,
                            s.N * s.Co * s.oh * s.ow,
                            s.Co * (s.C / s.groups) * s.kh * s.kw};
  for (int64_t v : values)
    TANDEM_CHECK(v >= 0 && v <= INT_MAX, "conv2d: a size of ", v,
                 " is beyond cuDNN's int descriptors");
  CudnnConvPlan p{};
  const int64_t x[4] = {s.N, s.C, s.H, s.W}, y[4] = {s.N, s.Co, s.oh, s.ow};
  const int64_t w[4] = {s.Co, s.C / s.groups, s.kh, s.kw};
  int64_t xs = 1, ys = 1;
  for (int d = 3; d >= 0; --d) {
    p.x[d] = int(x[d]);
    p.y[d] = int(y[d]);
    p.w[d] = int(w[d]);
    p.x_strides[d] = int(xs);
    p.y_strides[d] = int(ys);
    xs *= x[d];
    ys *= y[d];
  }
  p.pad[0] = int(s.pad_h);
  p.pad[1] = int(s.pad_w);
  p.stride[0] = int(s.stride_h);
  p.stride[1] = int(s.stride_w);
  p.dilation[0] = int(s.dilation_h);
  p.dilation[1] = int(s.dilation_w);
  p.groups = int(s.groups);
  return p;
}

// --- math type and algorithm choice ------------------------------------------------------------

// cuDNN's cudnnMathType_t, by value.
enum class ConvMath : int { Default = 0, TensorOp = 1, TensorOpAllowConversion = 2, Fma = 3 };

// The math type the convolution descriptor starts with (before the heuristic's choice).
inline ConvMath conv_math(DType dtype, bool allow_tf32) {
  switch (dtype) {
    case DType::Float32:
      return allow_tf32 ? ConvMath::Default : ConvMath::Fma;
    case DType::Float16:
    case DType::BFloat16:
      return ConvMath::TensorOp;
    default:
      return ConvMath::Default;
  }
}

// Whether an algorithm reported with math type m keeps `dtype`'s precision: float32 never
// converts down to half and uses tensor cores (TF32) only when allowed; float64 never converts.
inline bool conv_math_allowed(ConvMath m, DType dtype, bool allow_tf32) {
  if (dtype == DType::Float16 || dtype == DType::BFloat16) return true;
  if (m == ConvMath::TensorOpAllowConversion) return false;
  if (dtype == DType::Float32 && !allow_tf32) return m == ConvMath::Default || m == ConvMath::Fma;
  return true;
}

// One entry of cuDNN's heuristic answer (cudnnConvolution*AlgoPerf_t), in its order.
struct ConvAlgoCandidate {
  int algo = 0;
  bool supported = true;  // status == CUDNN_STATUS_SUCCESS
  bool deterministic = false;
  size_t workspace = 0;
  ConvMath math = ConvMath::Default;
};

struct ConvAlgoChoice {
  int index = -1;                     // into the candidates; -1: none may run (`why` says why)
  ConvMath math = ConvMath::Default;  // to set on the descriptor before running it
  std::string why;
};

// The first candidate (cuDNN lists them fastest first) that is supported, keeps the precision,
// fits max_workspace and, when math.deterministic, is deterministic. float32 without TF32 runs
// in FMA math whatever the candidate reports.
inline ConvAlgoChoice choose_conv_algorithm(const std::vector<ConvAlgoCandidate>& candidates,
                                            DType dtype, const MathOptions& math,
                                            size_t max_workspace) {
  ConvAlgoChoice choice;
  int unsupported = 0, precision = 0, too_big = 0, nondeterministic = 0;
  for (size_t i = 0; i < candidates.size(); ++i) {
    const ConvAlgoCandidate& c = candidates[i];
    if (!c.supported) {
      ++unsupported;
    } else if (!conv_math_allowed(c.math, dtype, math.allow_tf32)) {
      ++precision;
    } else if (math.deterministic && !c.deterministic) {
      ++nondeterministic;
    } else if (c.workspace > max_workspace) {
      ++too_big;
    } else {
      choice.index = int(i);
      choice.math = dtype == DType::Float32 && !math.allow_tf32 ? ConvMath::Fma : c.math;
      return choice;
    }
  }
  choice.why =
      detail::concat(candidates.size(), " candidates: ", unsupported, " not supported, ", precision,
                     " below the dtype's precision", math.allow_tf32 ? "" : " (TF32 not allowed)",
                     ", ", nondeterministic, " not deterministic, ", too_big, " needing more than ",
                     max_workspace >> 20, " MiB of workspace");
  return choice;
}

}  // namespace tandem::kernels
