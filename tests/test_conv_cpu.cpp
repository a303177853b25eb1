// The CPU convolution's float32, bfloat16 and float16 implementations against its float64 one.
// float32 runs through oneDNN where kernels/cpu/conv.cpp's policy picks it and through GEMMs on
// im2col columns elsewhere (per image, or over the whole batch for small outputs); float64 always
// runs the GEMMs, which test_conv_plan checks against a direct convolution. ctest also runs this
// suite with TANDEM_CPU_CONV=im2col and (when built) =onednn, so each implementation meets every
// shape.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "kernels/common/conv_plan.h"
#include "kernels/common/convert.h"
#include "kernels/cpu/conv_onednn.h"
#include "kernels/kernel_table.h"

namespace {

using tandem::kernels::Conv2dShape;

struct Case {
  const char* what;
  int64_t N, C, H, Co, k, groups, stride, pad, dilation;
};

// Each decision of the policy and each GEMM layout: a one-channel input (weight gradient by
// GEMMs), outputs of 1, 4, 16 and over 64 positions, grouped, depthwise, dilated, strided,
// pointwise, and the benchmarked networks' layers at a small batch.
const Case kCases[] = {
    {"one input channel (the CNN's first layer)", 3, 1, 28, 8, 3, 1, 1, 1, 1},
    {"CNN second layer", 2, 32, 14, 64, 3, 1, 1, 1, 1},
    {"1x1 output (resnet18 layer4 on 32x32)", 3, 16, 1, 24, 3, 1, 1, 1, 1},
    {"2x2 output (resnet18 layer3 on 32x32)", 3, 16, 2, 16, 3, 1, 1, 1, 1},
    {"4x4 output, strided", 2, 8, 8, 16, 3, 1, 2, 1, 1},
    {"7x7 stem, stride 2", 2, 3, 32, 16, 7, 1, 2, 3, 1},
    {"strided pointwise (downsample)", 2, 8, 8, 16, 1, 1, 2, 0, 1},
    {"pointwise", 2, 8, 9, 6, 1, 1, 1, 0, 1},
    {"grouped", 2, 8, 10, 12, 3, 4, 1, 1, 1},
    {"depthwise", 2, 6, 9, 6, 3, 6, 1, 1, 1},
    {"dilated", 2, 4, 11, 5, 3, 1, 1, 2, 2},
    {"grouped, small output", 4, 8, 2, 8, 3, 2, 1, 1, 1},
};

Conv2dShape shape_of(const Case& c) {
  Conv2dShape s{};
  s.N = c.N;
  s.C = c.C;
  s.H = s.W = c.H;
  s.Co = c.Co;
  s.kh = s.kw = c.k;
  s.groups = c.groups;
  s.stride_h = s.stride_w = c.stride;
  s.pad_h = s.pad_w = c.pad;
  s.dilation_h = s.dilation_w = c.dilation;
  s.oh = s.ow = tandem::kernels::conv_output_size(c.H, c.k, c.pad, c.stride, c.dilation);
  return s;
}

const tandem::kernels::KernelContext kCpu{tandem::kCPU, nullptr};

// The three operations of one convolution in one dtype.
template <typename T>
struct Results {
  std::vector<T> y, gx, gw;
};

template <typename T>
Results<T> run(const Conv2dShape& s, const std::vector<double>& x, const std::vector<double>& w,
               const std::vector<double>& bias, const std::vector<double>& gy) {
  const tandem::DType dtype = sizeof(T) == 4 ? tandem::DType::Float32 : tandem::DType::Float64;
  std::vector<T> xt(x.begin(), x.end()), wt(w.begin(), w.end()), bt(bias.begin(), bias.end()),
      gyt(gy.begin(), gy.end());
  Results<T> r{std::vector<T>(gy.size()), std::vector<T>(x.size()), std::vector<T>(w.size())};
  auto buf = [dtype](std::vector<T>& v) { return tandem::kernels::Buffer{v.data(), dtype}; };
  tandem::kernels::conv2d_forward(kCpu, s, buf(xt), buf(wt), buf(bt), buf(r.y));
  tandem::kernels::conv2d_backward_input(kCpu, s, buf(gyt), buf(wt), buf(r.gx));
  tandem::kernels::conv2d_backward_weight(kCpu, s, buf(xt), buf(gyt), buf(r.gw));
  return r;
}

void expect_close(const std::vector<float>& got, const std::vector<double>& want,
                  const char* what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  double scale = 1;
  for (double v : want) scale = std::max(scale, std::abs(v));
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(got[i], want[i], 2e-5 * scale) << what << " element " << i;
}

std::vector<double> random_values(int64_t n, std::mt19937& rng) {
  std::uniform_real_distribution<double> uniform(-1, 1);
  std::vector<double> v(static_cast<size_t>(n));
  for (double& e : v) e = uniform(rng);
  return v;
}

}  // namespace

TEST(ConvCpu, Float32ImplementationsMatchFloat64) {
  std::mt19937 rng(3);
  auto random = [&](int64_t n) { return random_values(n, rng); };
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.what);
    const Conv2dShape s = shape_of(c);
    const auto x = random(s.N * s.C * s.H * s.W);
    const auto w = random(s.Co * (s.C / s.groups) * s.kh * s.kw);
    const auto bias = random(s.Co);
    const auto gy = random(s.N * s.Co * s.oh * s.ow);
    const Results<double> want = run<double>(s, x, w, bias, gy);
    const Results<float> got = run<float>(s, x, w, bias, gy);
    expect_close(got.y, want.y, "output");
    expect_close(got.gx, want.gx, "input gradient");
    expect_close(got.gw, want.gw, "weight gradient");
  }
}

// bfloat16 (oneDNN's native kernels where the CPU has bf16 instructions, else staged through
// float32) and float16 (staged) against float64 on the same values: each result within the
// rounding of its type (half a unit in the last place) plus float accumulation.
template <typename H>
void expect_half_matches_float64(tandem::DType dtype, int mantissa_bits) {
  using tandem::kernels::convert_element;
  std::mt19937 rng(11);
  auto random = [&](int64_t n) {  // values the half type holds exactly
    auto v = random_values(n, rng);
    for (double& e : v) e = convert_element<H, double>(convert_element<double, H>(e));
    return v;
  };
  for (const Case& c : kCases) {
    const Conv2dShape s = shape_of(c);
    SCOPED_TRACE(std::string(c.what) + (dtype == tandem::DType::BFloat16 &&
                                                tandem::kernels::cpu::onednn_bf16_convolution(s)
                                            ? " (oneDNN bf16)"
                                            : " (staged through float32)"));
    const auto x = random(s.N * s.C * s.H * s.W);
    const auto w = random(s.Co * (s.C / s.groups) * s.kh * s.kw);
    const auto bias = random(s.Co);
    const auto gy = random(s.N * s.Co * s.oh * s.ow);
    const Results<double> want = run<double>(s, x, w, bias, gy);
    auto half = [](const std::vector<double>& v) {
      std::vector<H> h(v.size());
      for (size_t i = 0; i < v.size(); ++i) h[i] = convert_element<double, H>(v[i]);
      return h;
    };
    std::vector<H> xt = half(x), wt = half(w), bt = half(bias), gyt = half(gy);
    std::vector<H> y(gy.size()), gx(x.size()), gw(w.size());
    auto buf = [dtype](std::vector<H>& v) { return tandem::kernels::Buffer{v.data(), dtype}; };
    tandem::kernels::conv2d_forward(kCpu, s, buf(xt), buf(wt), buf(bt), buf(y));
    tandem::kernels::conv2d_backward_input(kCpu, s, buf(gyt), buf(wt), buf(gx));
    tandem::kernels::conv2d_backward_weight(kCpu, s, buf(xt), buf(gyt), buf(gw));
    auto check = [&](const std::vector<H>& got, const std::vector<double>& ref, const char* what) {
      double scale = 1;
      for (double v : ref) scale = std::max(scale, std::abs(v));
      for (size_t i = 0; i < got.size(); ++i) {
        const double g = convert_element<H, double>(got[i]);
        ASSERT_NEAR(g, ref[i], std::ldexp(std::abs(ref[i]), -mantissa_bits) + 1e-5 * scale)
            << what << " element " << i;
      }
    };
    check(y, want.y, "output");
    check(gx, want.gx, "input gradient");
    check(gw, want.gw, "weight gradient");
  }
}

TEST(ConvCpu, Bfloat16MatchesFloat64) {
  expect_half_matches_float64<tandem::kernels::BFloat16>(tandem::DType::BFloat16, 8);
}

TEST(ConvCpu, Float16MatchesFloat64) {
  expect_half_matches_float64<tandem::kernels::Half>(tandem::DType::Float16, 11);
}

// A second call of the same shape reuses cached primitives and scratch buffers, and a different
// shape in between must not disturb them: the three results are bitwise those of the first call.
TEST(ConvCpu, RepeatedCallsGiveIdenticalBits) {
  std::mt19937 rng(5);
  auto random = [&](int64_t n) { return random_values(n, rng); };
  const Conv2dShape a = shape_of(kCases[1]), b = shape_of(kCases[2]);
  const auto x = random(a.N * a.C * a.H * a.W), w = random(a.Co * a.C * a.kh * a.kw),
             bias = random(a.Co), gy = random(a.N * a.Co * a.oh * a.ow);
  const Results<float> first = run<float>(a, x, w, bias, gy);
  run<float>(b, random(b.N * b.C * b.H * b.W), random(b.Co * b.C * b.kh * b.kw), random(b.Co),
             random(b.N * b.Co * b.oh * b.ow));
  const Results<float> again = run<float>(a, x, w, bias, gy);
  EXPECT_EQ(first.y, again.y);
  EXPECT_EQ(first.gx, again.gx);
  EXPECT_EQ(first.gw, again.gw);
}
