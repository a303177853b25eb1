// The plain parameter structs kernel families take (see kernels/kernel_table.h): layouts and
// geometries, computed by framework/ops from tensor shapes and read by every backend. No
// pointers here: data travels in Buffers.
#pragma once

#include <compare>
#include <cstdint>

namespace tandem::kernels {

// A contiguous block seen as (outer, n, inner) around one dim: softmax, max_along, indexing.
struct Slab {
  int64_t outer = 1, n = 1, inner = 1;
};

// (N, C, S) with S the spatial size (1 for (N, C) input): batch normalisation.
struct ChannelLayout {
  int64_t N = 1, C = 1, S = 1;
};

// (N, G, B, S) for group and layer normalisation: N samples of G groups of B channels of S
// elements each. Statistics per (n, g) row of B * S elements; the affine weight and bias per
// (g, b) channel. group_norm: B = C / G, S = the spatial size; layer_norm: G = 1, B = the
// normalized elements, S = 1.
struct GroupNormLayout {
  int64_t N = 1, G = 1, B = 1, S = 1;
  int64_t rows() const { return N * G; }
  int64_t row_size() const { return B * S; }
  int64_t channels() const { return G * B; }
  int64_t numel() const { return N * G * B * S; }
};

// Log-probabilities (n, c, inner) with class dim in the middle; targets (n, inner).
struct ClassLayout {
  int64_t n = 1, c = 1, inner = 1;
};

// Batched row-major GEMM: c[i] = alpha * op(a[i]) @ op(b[i]) + beta * c[i], op(a) m x k,
// op(b) k x n, leading dims and batch strides in elements (a batch stride of 0 broadcasts).
struct GemmShape {
  bool trans_a = false, trans_b = false;
  int64_t m = 0, n = 0, k = 0;
  int64_t lda = 1, ldb = 1, ldc = 1;
  int64_t stride_a = 0, stride_b = 0, stride_c = 0;
  int64_t batch = 1;
  double alpha = 1, beta = 0;
};

// A 2-D convolution: input (N, C, H, W), weight (Co, C/groups, kh, kw), output (N, Co, oh, ow).
struct Conv2dShape {
  int64_t N, C, H, W;
  int64_t Co, kh, kw;
  int64_t oh, ow;
  int64_t groups;
  int64_t stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w;
  auto operator<=>(const Conv2dShape&) const = default;  // a cache key (cuDNN plans)
};

// 2-D pooling over `planes` planes of in_h x in_w (N*C planes of NCHW input).
struct PoolGeometry {
  int64_t planes, in_h, in_w, out_h, out_w;
  int64_t kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w;
};

// 2-D upsampling over planes; scale_h/w are PyTorch's source-per-destination scales.
struct UpsampleGeometry {
  int64_t planes, in_h, in_w, out_h, out_w;
  double scale_h, scale_w;
  bool align_corners;
};

}  // namespace tandem::kernels
