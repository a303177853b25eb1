// The mapping from the kernel table's Conv2dShape to cuDNN's legacy descriptors and the choice
// among cuDNN's algorithms (kernels/common/conv_plan.h), checked on the CPU: over a sweep of
// grouped, dilated, strided, padded and odd-sized convolutions, the descriptors are fully packed
// NCHW with the CPU convolution's output size, and a direct cross-correlation (cuDNN's definition)
// driven only by the descriptors, run in batch chunks as the CUDA kernels run them, equals the CPU
// kernels' forward, input-gradient and weight-gradient.
#include <gtest/gtest.h>

#include <climits>
#include <random>
#include <string>
#include <vector>

#include "framework/ops/conv.h"
#include "framework/tensor/factories.h"
#include "kernels/common/conv_plan.h"
#include "kernels/kernel_table.h"

using tandem::kernels::Conv2dShape;
using tandem::kernels::ConvAlgoCandidate;
using tandem::kernels::ConvChunk;
using tandem::kernels::ConvMath;
using tandem::kernels::CudnnConvPlan;
using tandem::kernels::MathOptions;

namespace {

struct Case {
  int64_t N, C, H, W, Co, kh, kw, groups, sh, sw, ph, pw, dh, dw;
};

// Grouped (incl. depthwise), dilated, strided, padded, 1x1, asymmetric, odd sizes, one-pixel
// inputs, windows larger than the input (with padding), and an empty batch.
const std::vector<Case>& sweep() {
  static const std::vector<Case> cases = {
      {2, 3, 7, 9, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1},   // 3x3 same padding
      {1, 4, 8, 8, 6, 3, 3, 2, 2, 2, 1, 1, 1, 1},   // grouped, strided
      {3, 6, 5, 7, 6, 3, 3, 6, 1, 1, 1, 1, 1, 1},   // depthwise
      {2, 2, 9, 11, 3, 3, 3, 1, 1, 1, 2, 2, 2, 2},  // dilated
      {1, 3, 10, 7, 5, 5, 3, 1, 3, 2, 2, 0, 1, 2},  // asymmetric everything
      {2, 5, 6, 6, 7, 1, 1, 1, 1, 1, 0, 0, 1, 1},   // pointwise
      {1, 2, 6, 6, 2, 1, 1, 1, 2, 2, 0, 0, 1, 1},   // strided pointwise
      {2, 3, 1, 1, 2, 3, 3, 1, 1, 1, 1, 1, 1, 1},   // one-pixel input, padded
      {1, 6, 4, 5, 9, 2, 3, 3, 1, 2, 1, 1, 3, 1},   // grouped and dilated
      {4, 1, 3, 3, 1, 3, 3, 1, 1, 1, 0, 0, 1, 1},   // one output pixel
      {0, 3, 5, 5, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1},   // empty batch
  };
  return cases;
}

Conv2dShape shape_of(const Case& c) {
  Conv2dShape s{};
  s.N = c.N;
  s.C = c.C;
  s.H = c.H;
  s.W = c.W;
  s.Co = c.Co;
  s.kh = c.kh;
  s.kw = c.kw;
  s.groups = c.groups;
  s.stride_h = c.sh;
  s.stride_w = c.sw;
  s.pad_h = c.ph;
  s.pad_w = c.pw;
  s.dilation_h = c.dh;
  s.dilation_w = c.dw;
  s.oh = tandem::kernels::conv_output_size(c.H, c.kh, c.ph, c.sh, c.dh);
  s.ow = tandem::kernels::conv_output_size(c.W, c.kw, c.pw, c.sw, c.dw);
  return s;
}

std::string name(const Conv2dShape& s) {
  return tandem::detail::concat("x(", s.N, ",", s.C, ",", s.H, ",", s.W, ") w(", s.Co, ",",
                                s.C / s.groups, ",", s.kh, ",", s.kw, ") g", s.groups, " s(",
                                s.stride_h, ",", s.stride_w, ") p(", s.pad_h, ",", s.pad_w, ") d(",
                                s.dilation_h, ",", s.dilation_w, ")");
}

std::vector<double> random_values(int64_t n, std::mt19937& rng) {
  std::uniform_real_distribution<double> d(-1, 1);
  std::vector<double> v(static_cast<size_t>(n));
  for (double& x : v) x = d(rng);
  return v;
}

// cuDNN's cross-correlation read from the descriptors alone, for one call: y = conv(x, w),
// gx += conv's adjoint of gy, gw += the weight-gradient of gy (each null when not wanted).
void direct_convolution(const CudnnConvPlan& p, const double* x, const double* w, double* y,
                        const double* gy, double* gx, double* gw) {
  const int Kg = p.w[0] / p.groups, Cg = p.w[1];
  auto xi = [&](int n, int c, int h, int v) {
    return n * p.x_strides[0] + c * p.x_strides[1] + h * p.x_strides[2] + v * p.x_strides[3];
  };
  auto yi = [&](int n, int k, int h, int v) {
    return n * p.y_strides[0] + k * p.y_strides[1] + h * p.y_strides[2] + v * p.y_strides[3];
  };
  for (int n = 0; n < p.y[0]; ++n)
    for (int k = 0; k < p.y[1]; ++k)
      for (int oh = 0; oh < p.y[2]; ++oh)
        for (int ow = 0; ow < p.y[3]; ++ow) {
          double acc = 0;
          for (int c = 0; c < Cg; ++c)
            for (int r = 0; r < p.w[2]; ++r)
              for (int q = 0; q < p.w[3]; ++q) {
                const int ih = oh * p.stride[0] - p.pad[0] + r * p.dilation[0];
                const int iw = ow * p.stride[1] - p.pad[1] + q * p.dilation[1];
                if (ih < 0 || ih >= p.x[2] || iw < 0 || iw >= p.x[3]) continue;
                const int xo = xi(n, (k / Kg) * Cg + c, ih, iw);
                const int wo = ((k * Cg + c) * p.w[2] + r) * p.w[3] + q;
                const int yo = yi(n, k, oh, ow);
                if (y) acc += x[xo] * w[wo];
                if (gx) gx[xo] += gy[yo] * w[wo];
                if (gw) gw[wo] += gy[yo] * x[xo];
              }
          if (y) y[yi(n, k, oh, ow)] = acc;
        }
}

tandem::kernels::Buffer f64(std::vector<double>& v) { return {v.data(), tandem::DType::Float64}; }

const tandem::kernels::KernelContext kCpuContext{tandem::kCPU, nullptr};

}  // namespace

TEST(ConvPlan, DescriptorsAreFullyPackedNchw) {
  for (const Case& c : sweep()) {
    const Conv2dShape s = shape_of(c);
    const CudnnConvPlan p = tandem::kernels::cudnn_conv_plan(s);
    SCOPED_TRACE(name(s));
    const int x[4] = {int(s.N), int(s.C), int(s.H), int(s.W)};
    const int y[4] = {int(s.N), int(s.Co), int(s.oh), int(s.ow)};
    const int w[4] = {int(s.Co), int(s.C / s.groups), int(s.kh), int(s.kw)};
    const int xs[4] = {int(s.C * s.H * s.W), int(s.H * s.W), int(s.W), 1};
    const int ys[4] = {int(s.Co * s.oh * s.ow), int(s.oh * s.ow), int(s.ow), 1};
    for (int d = 0; d < 4; ++d) {
      EXPECT_EQ(p.x[d], x[d]) << "x dim " << d;
      EXPECT_EQ(p.y[d], y[d]) << "y dim " << d;
      EXPECT_EQ(p.w[d], w[d]) << "w dim " << d;
      EXPECT_EQ(p.x_strides[d], xs[d]) << "x stride " << d;
      EXPECT_EQ(p.y_strides[d], ys[d]) << "y stride " << d;
    }
    EXPECT_EQ(p.pad[0], c.ph);
    EXPECT_EQ(p.pad[1], c.pw);
    EXPECT_EQ(p.stride[0], c.sh);
    EXPECT_EQ(p.stride[1], c.sw);
    EXPECT_EQ(p.dilation[0], c.dh);
    EXPECT_EQ(p.dilation[1], c.dw);
    EXPECT_EQ(p.groups, c.groups);
  }
}

TEST(ConvPlan, OutputSizeIsTheCpuConvolutions) {
  tandem::Generator gen(3);
  for (const Case& c : sweep()) {
    if (c.N == 0) continue;
    const Conv2dShape s = shape_of(c);
    SCOPED_TRACE(name(s));
    const tandem::Tensor x = tandem::randn({c.N, c.C, c.H, c.W}, gen);
    const tandem::Tensor w = tandem::randn({c.Co, c.C / c.groups, c.kh, c.kw}, gen);
    const tandem::Tensor y =
        tandem::conv2d(x, w, {}, {c.sh, c.sw}, {c.ph, c.pw}, {c.dh, c.dw}, c.groups);
    EXPECT_EQ(y.size(2), s.oh);
    EXPECT_EQ(y.size(3), s.ow);
    // Any other output size is refused, not handed to cuDNN.
    Conv2dShape wrong = s;
    wrong.oh += 1;
    EXPECT_THROW(tandem::kernels::cudnn_conv_plan(wrong), tandem::Error);
  }
}

TEST(ConvPlan, DirectConvolutionFromTheDescriptorsMatchesTheCpuKernels) {
  std::mt19937 rng(11);
  for (const Case& c : sweep()) {
    const Conv2dShape s = shape_of(c);
    SCOPED_TRACE(name(s));
    const int64_t x_image = s.C * s.H * s.W, y_image = s.Co * s.oh * s.ow;
    auto x = random_values(s.N * x_image, rng);
    auto w = random_values(s.Co * (s.C / s.groups) * s.kh * s.kw, rng);
    auto gy = random_values(s.N * y_image, rng);

    // The CPU kernels (the reference every backend answers to).
    std::vector<double> y_cpu(size_t(s.N * y_image)), gx_cpu(x.size()), gw_cpu(w.size());
    tandem::kernels::conv2d_forward(kCpuContext, s, f64(x), f64(w), {}, f64(y_cpu));
    tandem::kernels::conv2d_backward_input(kCpuContext, s, f64(gy), f64(w), f64(gx_cpu));
    tandem::kernels::conv2d_backward_weight(kCpuContext, s, f64(x), f64(gy), f64(gw_cpu));

    // The descriptors' convolution, in chunks of at most two images' worth of elements, as the
    // CUDA kernels call cuDNN for tensors beyond INT_MAX elements.
    const int64_t per_image = x_image > y_image ? x_image : y_image;
    std::vector<double> y(y_cpu.size()), gx(x.size()), gw(w.size());
    int64_t covered = 0;
    for (const ConvChunk& chunk : tandem::kernels::conv_chunks(s, 2 * per_image)) {
      EXPECT_EQ(chunk.first, covered);
      EXPECT_LE(chunk.count, 2);
      covered += chunk.count;
      Conv2dShape cs = s;
      cs.N = chunk.count;
      const CudnnConvPlan p = tandem::kernels::cudnn_conv_plan(cs);
      direct_convolution(p, x.data() + chunk.first * x_image, w.data(),
                         y.data() + chunk.first * y_image, gy.data() + chunk.first * y_image,
                         gx.data() + chunk.first * x_image, gw.data());
    }
    EXPECT_EQ(covered, s.N);
    for (size_t i = 0; i < y.size(); ++i) ASSERT_NEAR(y[i], y_cpu[i], 1e-12) << "y " << i;
    for (size_t i = 0; i < gx.size(); ++i) ASSERT_NEAR(gx[i], gx_cpu[i], 1e-12) << "gx " << i;
    for (size_t i = 0; i < gw.size(); ++i) ASSERT_NEAR(gw[i], gw_cpu[i], 1e-12) << "gw " << i;
  }
}

TEST(ConvPlan, TransposedConvolutionShapes) {
  // conv_transpose2d runs the input-gradient of the convolution from its output (Co = weight's
  // out channels) back to its input: with output_padding < stride the output size is exactly
  // the formula's.
  for (int64_t output_padding : {0, 1}) {
    Conv2dShape s{};
    s.N = 2;
    s.C = 4;  // the transposed convolution's output channels
    s.Co = 3;
    s.kh = s.kw = 3;
    s.groups = 1;
    s.stride_h = s.stride_w = 2;
    s.pad_h = s.pad_w = 1;
    s.dilation_h = s.dilation_w = 1;
    s.oh = s.ow = 5;  // the transposed convolution's input
    s.H = s.W = (5 - 1) * 2 - 2 + 2 + output_padding + 1;
    EXPECT_NO_THROW(tandem::kernels::cudnn_conv_plan(s)) << "output_padding " << output_padding;
  }
  // output_padding >= stride (PyTorch allows it below the dilation) makes a larger input than
  // cuDNN's formula gives: refused with a message, never a wrong result.
  Conv2dShape s{};
  s.N = 1;
  s.C = 1;
  s.Co = 1;
  s.kh = s.kw = 2;
  s.groups = 1;
  s.stride_h = s.stride_w = 1;
  s.dilation_h = s.dilation_w = 3;
  s.oh = s.ow = 4;
  s.H = s.W = (4 - 1) * 1 + 3 * (2 - 1) + 2 + 1;  // output_padding 2
  try {
    tandem::kernels::cudnn_conv_plan(s);
    FAIL() << "expected an error";
  } catch (const tandem::Error& e) {
    EXPECT_NE(std::string(e.what()).find("output_padding"), std::string::npos) << e.what();
  }
}

TEST(ConvPlan, ChunksKeepEveryCallWithinCudnnsIntLimit) {
  Conv2dShape s = shape_of({10, 3, 5, 5, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1});  // 75 in, 200 out
  const auto chunks = tandem::kernels::conv_chunks(s, 450);
  ASSERT_EQ(chunks.size(), 5u);
  for (size_t i = 0; i < chunks.size(); ++i) {
    EXPECT_EQ(chunks[i].first, int64_t(2 * i));
    EXPECT_EQ(chunks[i].count, 2);
  }
  const auto uneven = tandem::kernels::conv_chunks(s, 600);  // 3 images per call
  ASSERT_EQ(uneven.size(), 4u);
  EXPECT_EQ(uneven.back().first, 9);
  EXPECT_EQ(uneven.back().count, 1);
  EXPECT_EQ(tandem::kernels::conv_chunks(s).size(), 1u);
  EXPECT_THROW(tandem::kernels::conv_chunks(s, 199), tandem::Error);  // one output image is 200
  s.N = 0;
  EXPECT_TRUE(tandem::kernels::conv_chunks(s).empty());
  // A batch of 2^31 elements and more is several calls by default.
  Conv2dShape big = shape_of({64, 64, 1024, 1024, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1});
  const auto big_chunks = tandem::kernels::conv_chunks(big);
  EXPECT_GT(big_chunks.size(), 1u);
  for (const ConvChunk& c : big_chunks) {
    EXPECT_LE(c.count * 64 * 1024 * 1024, int64_t(INT_MAX));
    big.N = c.count;
    EXPECT_NO_THROW(tandem::kernels::cudnn_conv_plan(big));
  }
  big.N = 64;
  EXPECT_THROW(tandem::kernels::cudnn_conv_plan(big), tandem::Error);  // one call cannot hold it
}

TEST(ConvPlan, EmptyConvolutionsNeverReachCudnn) {
  const Conv2dShape s = shape_of({2, 3, 5, 5, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1});
  EXPECT_FALSE(tandem::kernels::conv_is_empty(s));
  Conv2dShape e = s;
  e.N = 0;
  EXPECT_TRUE(tandem::kernels::conv_is_empty(e));
  e = s;
  e.Co = 0;
  EXPECT_TRUE(tandem::kernels::conv_is_empty(e));
  e = s;
  e.C = 0;  // no input channels: y is the bias
  EXPECT_TRUE(tandem::kernels::conv_is_empty(e));
}

TEST(ConvPlan, MathTypeKeepsTheDtypesPrecision) {
  using tandem::DType;
  EXPECT_EQ(tandem::kernels::conv_math(DType::Float32, false), ConvMath::Fma);
  EXPECT_EQ(tandem::kernels::conv_math(DType::Float32, true), ConvMath::Default);
  EXPECT_EQ(tandem::kernels::conv_math(DType::Float64, false), ConvMath::Default);
  EXPECT_EQ(tandem::kernels::conv_math(DType::Float16, false), ConvMath::TensorOp);
  EXPECT_EQ(tandem::kernels::conv_math(DType::BFloat16, false), ConvMath::TensorOp);
  EXPECT_FALSE(tandem::kernels::conv_math_allowed(ConvMath::TensorOp, DType::Float32, false));
  EXPECT_TRUE(tandem::kernels::conv_math_allowed(ConvMath::TensorOp, DType::Float32, true));
  EXPECT_FALSE(
      tandem::kernels::conv_math_allowed(ConvMath::TensorOpAllowConversion, DType::Float32, true));
  EXPECT_FALSE(
      tandem::kernels::conv_math_allowed(ConvMath::TensorOpAllowConversion, DType::Float64, false));
  EXPECT_TRUE(
      tandem::kernels::conv_math_allowed(ConvMath::TensorOpAllowConversion, DType::Float16, false));
}

TEST(ConvPlan, AlgorithmChoiceFollowsTheDeterminismSwitch) {
  using tandem::DType;
  // As cuDNN lists them: fastest first.
  const std::vector<ConvAlgoCandidate> offered = {
      {7, false, true, 0, ConvMath::Default},               // not supported for this shape
      {6, true, true, size_t(4) << 30, ConvMath::Default},  // deterministic, too much workspace
      {0, true, false, 1024, ConvMath::Default},            // fast, not deterministic
      {5, true, true, 2048, ConvMath::TensorOp},            // TF32
      {1, true, true, 4096, ConvMath::Fma},                 // deterministic FMA
  };
  const size_t limit = size_t(1) << 30;
  auto pick = [&](DType t, bool tf32, bool deterministic) {
    return tandem::kernels::choose_conv_algorithm(offered, t, MathOptions{tf32, deterministic},
                                                  limit);
  };
  EXPECT_EQ(pick(DType::Float32, false, true).index, 4);
  EXPECT_EQ(pick(DType::Float32, false, true).math, ConvMath::Fma);
  EXPECT_EQ(pick(DType::Float32, false, false).index, 2);
  EXPECT_EQ(pick(DType::Float32, false, false).math, ConvMath::Fma);  // never TF32 unasked
  EXPECT_EQ(pick(DType::Float32, true, true).index, 3);
  EXPECT_EQ(pick(DType::Float32, true, true).math, ConvMath::TensorOp);
  EXPECT_EQ(pick(DType::Float16, false, true).index, 3);
  EXPECT_EQ(pick(DType::Float64, false, true).index, 3);  // float64 tensor cores are exact

  // Nothing deterministic that fits: no choice, and the reason counts each refusal.
  const std::vector<ConvAlgoCandidate> none = {offered[0], offered[1], offered[2]};
  const auto choice =
      tandem::kernels::choose_conv_algorithm(none, DType::Float32, MathOptions{false, true}, limit);
  EXPECT_EQ(choice.index, -1);
  EXPECT_NE(choice.why.find("1 not supported"), std::string::npos) << choice.why;
  EXPECT_NE(choice.why.find("1 not deterministic"), std::string::npos) << choice.why;
  EXPECT_NE(choice.why.find("1 needing more than 1024 MiB"), std::string::npos) << choice.why;
  EXPECT_EQ(
      tandem::kernels::choose_conv_algorithm(none, DType::Float32, MathOptions{false, false}, limit)
          .index,
      2);
}

TEST(ConvPlan, DimsBeyondIntAreRefused) {
  Conv2dShape s = shape_of({1, 1, 3, 3, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1});
  s.pad_h = int64_t(INT_MAX) + 1;
  s.oh = tandem::kernels::conv_output_size(s.H, s.kh, s.pad_h, s.stride_h, s.dilation_h);
  EXPECT_THROW(tandem::kernels::cudnn_conv_plan(s), tandem::Error);
  Conv2dShape g = shape_of({1, 4, 3, 3, 6, 1, 1, 1, 1, 1, 0, 0, 1, 1});
  g.groups = 3;  // 4 input channels do not split into 3 groups
  EXPECT_THROW(tandem::kernels::cudnn_conv_plan(g), tandem::Error);
}
