// CPU convolution. float32 runs through oneDNN where it is faster, bfloat16 where the CPU has bf16
// instructions (conv_onednn.h; the policy is use_onednn below); float16, and bfloat16 elsewhere,
// go through float32 (float_staging.h); everything else is GEMMs on im2col columns. The column
// matrix has one row per (channel, kernel row, kernel column) and one column per output position,
// so a convolution is the (C_out, C*kH*kW) weight matrix times the columns; its input-gradient is
// col2im (the adjoint, accumulating) of W^T @ dY and its weight-gradient dY @ columns^T. Each image
// and group is one GEMM, except when an image has few output positions: then the columns of all
// images sit side by side and each group is one GEMM over the batch (a per-image GEMM of a 1x1
// output is a matrix-vector product, 10x slower).
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <vector>

#include "kernels/cpu/conv_onednn.h"
#include "kernels/cpu/float_staging.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/register.h"
#include "kernels/cpu/scratch.h"

namespace tandem::kernels::cpu {

namespace {

// One image (C, H, W) of one group, and the output positions of the convolution.
struct ConvGeometry {
  int64_t channels, height, width;
  int64_t kernel_h, kernel_w;
  int64_t pad_h, pad_w, stride_h, stride_w, dilation_h, dilation_w;
  int64_t out_h, out_w;
};

// The output columns [lo, hi) whose input column ow * stride + off lies inside [0, width): the
// window hangs over the left edge before lo and over the right edge from hi on. Computing the
// range once per row keeps the copy loops free of bounds tests (they then vectorise).
void valid_columns(int64_t off, int64_t stride, int64_t width, int64_t out_w, int64_t& lo,
                   int64_t& hi) {
  lo = off >= 0 ? 0 : (-off + stride - 1) / stride;
  hi = width - off <= 0 ? 0 : (width - off + stride - 1) / stride;
  lo = std::min(lo, out_w);
  hi = std::clamp(hi, lo, out_w);
}

// Columns of one image into `columns`, whose rows are `pitch` elements apart (the image's
// output positions, or the whole batch's when the images' columns sit side by side).
template <typename T>
void im2col(const T* image, const ConvGeometry& g, T* columns, int64_t pitch) {
  for (int64_t c = 0; c < g.channels; ++c)
    for (int64_t kh = 0; kh < g.kernel_h; ++kh)
      for (int64_t kw = 0; kw < g.kernel_w; ++kw) {
        T* row = columns + ((c * g.kernel_h + kh) * g.kernel_w + kw) * pitch;
        const T* plane = image + c * g.height * g.width;
        const int64_t off = kw * g.dilation_w - g.pad_w;
        int64_t lo, hi;
        valid_columns(off, g.stride_w, g.width, g.out_w, lo, hi);
        for (int64_t oh = 0; oh < g.out_h; ++oh) {
          const int64_t ih = oh * g.stride_h - g.pad_h + kh * g.dilation_h;
          T* out = row + oh * g.out_w;
          if (ih < 0 || ih >= g.height) {
            std::memset(out, 0, sizeof(T) * size_t(g.out_w));
            continue;
          }
          const T* src = plane + ih * g.width;
          std::fill(out, out + lo, T(0));
          if (g.stride_w == 1) {
            if (hi > lo) std::memcpy(out + lo, src + lo + off, sizeof(T) * size_t(hi - lo));
          } else {
            for (int64_t ow = lo; ow < hi; ++ow) out[ow] = src[ow * g.stride_w + off];
          }
          std::fill(out + hi, out + g.out_w, T(0));
        }
      }
}

template <typename T>
void col2im(const T* columns, const ConvGeometry& g, T* image, int64_t pitch) {
  for (int64_t c = 0; c < g.channels; ++c)
    for (int64_t kh = 0; kh < g.kernel_h; ++kh)
      for (int64_t kw = 0; kw < g.kernel_w; ++kw) {
        const T* row = columns + ((c * g.kernel_h + kh) * g.kernel_w + kw) * pitch;
        T* plane = image + c * g.height * g.width;
        const int64_t off = kw * g.dilation_w - g.pad_w;
        int64_t lo, hi;
        valid_columns(off, g.stride_w, g.width, g.out_w, lo, hi);
        for (int64_t oh = 0; oh < g.out_h; ++oh) {
          const int64_t ih = oh * g.stride_h - g.pad_h + kh * g.dilation_h;
          if (ih < 0 || ih >= g.height) continue;
          T* dst = plane + ih * g.width;
          const T* in = row + oh * g.out_w;
          if (g.stride_w == 1) {
            for (int64_t ow = lo; ow < hi; ++ow) dst[ow + off] += in[ow];
          } else {
            for (int64_t ow = lo; ow < hi; ++ow) dst[ow * g.stride_w + off] += in[ow];
          }
        }
      }
}

ConvGeometry group_geometry(const Conv2dShape& s) {
  return {s.C / s.groups, s.H,        s.W,          s.kh,         s.kw, s.pad_h, s.pad_w,
          s.stride_h,     s.stride_w, s.dilation_h, s.dilation_w, s.oh, s.ow};
}

// The convolution's three operations, for the choice of implementation.
enum class ConvOp { Forward, BackwardInput, BackwardWeight };

// Whether oneDNN runs this operation: bfloat16 wherever the CPU has oneDNN's native bf16 kernels,
// float32 as follows. TANDEM_CPU_CONV=im2col|onednn forces one side for
// every shape (bench_ops' conv_layers compares them layer by layer); by default oneDNN runs
// everything except what it does slower than the GEMMs here, per those measurements (AVX2,
// 1 thread): the weight gradient of a one-channel input (3x slower: its jit kernel vectorises
// over input channels), and outputs of at most 2x2 positions per image (resnet18's last stages
// on 32x32 inputs, where oneDNN falls back to a GEMM per image, up to 10x slower than the
// batched GEMM below).
bool use_onednn(DType dtype, const Conv2dShape& s, ConvOp op) {
  enum class Choice { Auto, Im2col, OneDnn };
  static const Choice forced = [] {
    const char* env = std::getenv("TANDEM_CPU_CONV");
    if (!env || !*env) return Choice::Auto;
    const std::string_view v(env);
    TANDEM_CHECK(v == "im2col" || v == "onednn", "TANDEM_CPU_CONV=", v,
                 ": expected im2col or onednn");
    TANDEM_CHECK(v == "im2col" || onednn_available(),
                 "TANDEM_CPU_CONV=onednn, but this build has no oneDNN");
    return v == "im2col" ? Choice::Im2col : Choice::OneDnn;
  }();
  if (!onednn_available() || forced == Choice::Im2col) return false;
  // oneDNN derives the output size from the input's with symmetric padding. A transposed
  // convolution with output_padding >= stride (allowed when smaller than the dilation) asks for
  // an input larger than that size implies, which oneDNN refuses: the GEMMs here take it.
  auto floored = [](int64_t in, int64_t pad, int64_t dil, int64_t k, int64_t stride) {
    return (in + 2 * pad - (dil * (k - 1) + 1)) / stride + 1;
  };
  if (floored(s.H, s.pad_h, s.dilation_h, s.kh, s.stride_h) != s.oh ||
      floored(s.W, s.pad_w, s.dilation_w, s.kw, s.stride_w) != s.ow)
    return false;
  // bfloat16 runs natively wherever oneDNN has bf16 kernels for the CPU; elsewhere it is staged
  // through float32 (float_staging.h) and comes back here as float32.
  if (dtype == DType::BFloat16) return onednn_bf16_convolution(s);
  if (dtype != DType::Float32) return false;
  if (forced == Choice::OneDnn) return true;
  if (s.oh * s.ow <= 4) return false;
  return !(op == ConvOp::BackwardWeight && s.C / s.groups == 1);
}

// Images with at most this many output positions share one GEMM per group (see the top).
constexpr int64_t kBatchedColumnsMaxPositions = 64;

// One group's output rows between the tensor's (N, Co, L) layout and the batched GEMM's
// (Cog, N*L) one.
template <typename T>
void gather_group(const T* nchw, const Conv2dShape& s, int64_t gi, T* batched) {
  const int64_t Cog = s.Co / s.groups, L = s.oh * s.ow;
  for (int64_t c = 0; c < Cog; ++c)
    for (int64_t n = 0; n < s.N; ++n)
      std::memcpy(batched + (c * s.N + n) * L, nchw + (n * s.Co + gi * Cog + c) * L,
                  sizeof(T) * size_t(L));
}
template <typename T>
void scatter_group(const T* batched, const Conv2dShape& s, int64_t gi, T* nchw) {
  const int64_t Cog = s.Co / s.groups, L = s.oh * s.ow;
  for (int64_t c = 0; c < Cog; ++c)
    for (int64_t n = 0; n < s.N; ++n)
      std::memcpy(nchw + (n * s.Co + gi * Cog + c) * L, batched + (c * s.N + n) * L,
                  sizeof(T) * size_t(L));
}

// The columns of every image of group gi, side by side: (K, N*L).
template <typename T>
void batched_im2col(const T* x, const Conv2dShape& s, int64_t gi, T* cols) {
  const int64_t Cg = s.C / s.groups, L = s.oh * s.ow;
  const ConvGeometry g = group_geometry(s);
  for (int64_t n = 0; n < s.N; ++n)
    im2col<T>(x + (n * s.C + gi * Cg) * s.H * s.W, g, cols + n * L, s.N * L);
}

// Element counts of a convolution's operands.
int64_t input_numel(const Conv2dShape& s) { return s.N * s.C * s.H * s.W; }
int64_t weight_numel(const Conv2dShape& s) { return s.Co * (s.C / s.groups) * s.kh * s.kw; }
int64_t output_numel(const Conv2dShape& s) { return s.N * s.Co * s.oh * s.ow; }

}  // namespace

// y[n] = W @ im2col(x[n]) (+ bias) per group (per group over the whole batch for small outputs).
// The bias is written into the output first and the GEMM accumulates onto it.
void conv2d_forward_cpu(const KernelContext& ctx, const Conv2dShape& s, const Buffer& x,
                        const Buffer& w, const Buffer& bias, const Buffer& y) {
  if (use_onednn(x.dtype, s, ConvOp::Forward))
    return onednn_conv2d_forward(s, x.dtype, x.data, w.data, bias.data, y.data);
  if (is_half(x.dtype)) {
    FloatStaging f;
    conv2d_forward_cpu(ctx, s, f.input(x, input_numel(s)), f.input(w, weight_numel(s)),
                       f.input(bias, s.Co), f.output(y, output_numel(s)));
    return f.finish();
  }
  const int64_t G = s.groups, Cg = s.C / G, Cog = s.Co / G, K = Cg * s.kh * s.kw, L = s.oh * s.ow;
  const ConvGeometry g = group_geometry(s);
  const bool pointwise =
      s.kh == 1 && s.kw == 1 && s.stride_h == 1 && s.stride_w == 1 && s.pad_h == 0 && s.pad_w == 0;
  const bool batched = L <= kBatchedColumnsMaxPositions;
  dispatch_floating(x.dtype, "conv2d", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* xp = x.as<const T>();
    const T* wp = w.as<const T>();
    const T* bp = bias.as<const T>();
    T* yp = y.as<T>();
    if (batched) {
      const int64_t NL = s.N * L;
      T* cols = thread_scratch<T>(0, size_t(K * NL));
      T* out = thread_scratch<T>(1, size_t(Cog * NL));
      for (int64_t gi = 0; gi < G; ++gi) {
        batched_im2col<T>(xp, s, gi, cols);
        for (int64_t c = 0; c < Cog; ++c)
          std::fill(out + c * NL, out + (c + 1) * NL, bp ? bp[gi * Cog + c] : T(0));
        gemm<T>(false, false, Cog, NL, K, T(1), wp + gi * Cog * K, K, cols, NL, T(1), out, NL);
        scatter_group<T>(out, s, gi, yp);
      }
      return;
    }
    T* cols = pointwise ? nullptr : thread_scratch<T>(0, size_t(K * L));
    for (int64_t n = 0; n < s.N; ++n)
      for (int64_t gi = 0; gi < G; ++gi) {
        T* out = yp + (n * s.Co + gi * Cog) * L;
        if (bp)
          for (int64_t c = 0; c < Cog; ++c)
            std::fill(out + c * L, out + (c + 1) * L, bp[gi * Cog + c]);
        const T* img = xp + (n * s.C + gi * Cg) * s.H * s.W;
        const T* col = img;  // a 1x1 stride-1 convolution reads the image as its own columns
        if (!pointwise) {
          im2col<T>(img, g, cols, L);
          col = cols;
        }
        gemm<T>(false, false, Cog, L, K, T(1), wp + gi * Cog * K, K, col, L, bp ? T(1) : T(0), out,
                L);
      }
  });
}

// dX = col2im(W^T @ dY) per image and group (per group over the batch for small outputs).
void conv2d_backward_input_cpu(const KernelContext& ctx, const Conv2dShape& s, const Buffer& gy,
                               const Buffer& w, const Buffer& gx) {
  if (use_onednn(gy.dtype, s, ConvOp::BackwardInput))
    return onednn_conv2d_backward_input(s, gy.dtype, gy.data, w.data, gx.data);
  if (is_half(gy.dtype)) {
    FloatStaging f;
    conv2d_backward_input_cpu(ctx, s, f.input(gy, output_numel(s)), f.input(w, weight_numel(s)),
                              f.output(gx, input_numel(s)));
    return f.finish();
  }
  const int64_t G = s.groups, Cg = s.C / G, Cog = s.Co / G, K = Cg * s.kh * s.kw, L = s.oh * s.ow;
  const ConvGeometry g = group_geometry(s);
  const bool batched = L <= kBatchedColumnsMaxPositions;
  dispatch_floating(gy.dtype, "conv2d_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* gyp = gy.as<const T>();
    const T* wp = w.as<const T>();
    T* gxp = gx.as<T>();
    std::fill(gxp, gxp + s.N * s.C * s.H * s.W, T(0));
    if (batched) {
      const int64_t NL = s.N * L;
      T* cols = thread_scratch<T>(0, size_t(K * NL));
      T* gy_group = thread_scratch<T>(1, size_t(Cog * NL));
      for (int64_t gi = 0; gi < G; ++gi) {
        gather_group<T>(gyp, s, gi, gy_group);
        gemm<T>(true, false, K, NL, Cog, T(1), wp + gi * Cog * K, K, gy_group, NL, T(0), cols, NL);
        for (int64_t n = 0; n < s.N; ++n)
          col2im<T>(cols + n * L, g, gxp + (n * s.C + gi * Cg) * s.H * s.W, NL);
      }
      return;
    }
    T* cols = thread_scratch<T>(0, size_t(K * L));
    for (int64_t n = 0; n < s.N; ++n)
      for (int64_t gi = 0; gi < G; ++gi) {
        gemm<T>(true, false, K, L, Cog, T(1), wp + gi * Cog * K, K, gyp + (n * s.Co + gi * Cog) * L,
                L, T(0), cols, L);
        col2im<T>(cols, g, gxp + (n * s.C + gi * Cg) * s.H * s.W, L);
      }
  });
}

// dW = sum_n dY[n] @ im2col(x[n])^T per group (one GEMM over the batch for small outputs).
void conv2d_backward_weight_cpu(const KernelContext& ctx, const Conv2dShape& s, const Buffer& x,
                                const Buffer& gy, const Buffer& gw) {
  if (use_onednn(x.dtype, s, ConvOp::BackwardWeight))
    return onednn_conv2d_backward_weight(s, x.dtype, x.data, gy.data, gw.data);
  if (is_half(x.dtype)) {
    FloatStaging f;
    conv2d_backward_weight_cpu(ctx, s, f.input(x, input_numel(s)), f.input(gy, output_numel(s)),
                               f.output(gw, weight_numel(s)));
    return f.finish();
  }
  const int64_t G = s.groups, Cg = s.C / G, Cog = s.Co / G, K = Cg * s.kh * s.kw, L = s.oh * s.ow;
  const ConvGeometry g = group_geometry(s);
  const bool batched = L <= kBatchedColumnsMaxPositions;
  dispatch_floating(x.dtype, "conv2d_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* xp = x.as<const T>();
    const T* gyp = gy.as<const T>();
    T* gwp = gw.as<T>();
    if (batched) {
      const int64_t NL = s.N * L;
      T* cols = thread_scratch<T>(0, size_t(K * NL));
      T* gy_group = thread_scratch<T>(1, size_t(Cog * NL));
      for (int64_t gi = 0; gi < G; ++gi) {
        batched_im2col<T>(xp, s, gi, cols);
        gather_group<T>(gyp, s, gi, gy_group);
        gemm<T>(false, true, Cog, K, NL, T(1), gy_group, NL, cols, NL, T(0), gwp + gi * Cog * K, K);
      }
      return;
    }
    std::fill(gwp, gwp + s.Co * K, T(0));
    T* cols = thread_scratch<T>(0, size_t(K * L));
    for (int64_t n = 0; n < s.N; ++n)
      for (int64_t gi = 0; gi < G; ++gi) {
        im2col<T>(xp + (n * s.C + gi * Cg) * s.H * s.W, g, cols, L);
        gemm<T>(false, true, Cog, K, L, T(1), gyp + (n * s.Co + gi * Cog) * L, L, cols, L, T(1),
                gwp + gi * Cog * K, K);
      }
  });
}

TANDEM_REGISTER_CPU_KERNEL(conv2d_forward, conv2d_forward_cpu);
TANDEM_REGISTER_CPU_KERNEL(conv2d_backward_input, conv2d_backward_input_cpu);
TANDEM_REGISTER_CPU_KERNEL(conv2d_backward_weight, conv2d_backward_weight_cpu);

}  // namespace tandem::kernels::cpu
