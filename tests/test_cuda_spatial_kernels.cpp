// The spatial kernel families (conv2d forward and both backward, max/avg/adaptive-avg pooling,
// batch norm, nearest and bilinear upsampling) run on the test's device and on the CPU on the same
// random inputs, compared with per-dtype tolerances over sweeps of odd sizes, padding, strides,
// dilation, groups, ceil_mode, scales and empty batches, forward and backward. The kernels are
// called through the kernel table directly (the op-level tests are tests/test_device_ops.cpp).
// Outputs the table says a kernel overwrites start as NaN, so an element left unwritten fails;
// outputs it accumulates into start as the contract says (zeros), and once as random values.
//
// Under ctest the `cuda` instances run on the emulated device (the CPU kernels, so they pass by
// construction); run directly on a GPU (tests/gpu/check.sh) they test the CUDA kernels: cuDNN's
// convolutions, TF32 kept off (float32 tolerances TF32 would miss), deterministic algorithms
// giving identical bits run to run, and 64-bit indexing beyond 2^31 elements.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "framework/ops/ops.h"
#include "framework/tensor/kernel_args.h"
#include "kernels/common/conv_plan.h"
#include "kernels/common/math_options.h"
#include "kernels/kernel_table.h"
#include "tests/device_test.h"

using namespace tandem;
namespace k = tandem::kernels;

namespace {

struct Tol {
  double rtol, atol;
};

Tol tol_for(DType t, Tol f32, Tol f64) { return t == DType::Float64 ? f64 : f32; }

const DType kDtypes[] = {DType::Float32, DType::Float64};

// |got - want| <= atol + rtol * |want| everywhere, NaN exactly where want is NaN.
void expect_close(const Tensor& got, const Tensor& want, Tol tol, const std::string& what) {
  const Tensor g = got.cpu().to(DType::Float64).contiguous();
  const Tensor w = want.cpu().to(DType::Float64).contiguous();
  ASSERT_EQ(g.sizes(), w.sizes()) << what;
  const double* gp = g.data_ptr<double>();
  const double* wp = w.data_ptr<double>();
  int64_t bad = 0, first = -1;
  for (int64_t i = 0; i < g.numel(); ++i) {
    const bool ok = std::isnan(wp[i])
                        ? std::isnan(gp[i])
                        : std::abs(gp[i] - wp[i]) <= tol.atol + tol.rtol * std::abs(wp[i]);
    if (!ok && bad++ == 0) first = i;
  }
  if (bad > 0)
    ADD_FAILURE() << what << ": " << bad << " of " << g.numel() << " elements differ; first at "
                  << first << ": " << gp[first] << " vs " << wp[first] << " (cpu)";
}

void expect_identical(const Tensor& a, const Tensor& b, const std::string& what) {
  EXPECT_TRUE(equal(a.cpu(), b.cpu())) << what << ": two runs differ";
}

// An output the kernel must overwrite, filled with NaN (or -7 for int64) beforehand.
Tensor poisoned(const Shape& shape, DType dt, Device d) {
  return full(shape, dt == DType::Int64 ? -7.0 : double(NAN), TensorOptions(dt).with_device(d));
}

Tensor random(const Shape& shape, DType dt, Generator& gen, double scale = 1, double shift = 0) {
  return (randn(shape, gen) * scale + shift).to(dt);
}

Tensor on(const Tensor& t, Device d) { return t.defined() ? t.to(d) : Tensor(); }

// Sets the process-wide math options for a scope.
class MathOptionsGuard {
 public:
  explicit MathOptionsGuard(k::MathOptions o) : saved_(k::math_options()) {
    k::set_math_options(o);
  }
  ~MathOptionsGuard() { k::set_math_options(saved_); }

 private:
  k::MathOptions saved_;
};

bool real_gpu(Device d) { return !d.is_cpu() && k::backend_of(d) == k::Backend::CUDA; }

// --- convolution -------------------------------------------------------------------------------

struct ConvCase {
  int64_t N, C, H, W, Co, kh, kw, groups, sh, sw, ph, pw, dh, dw;
};

const std::vector<ConvCase>& conv_sweep() {
  static const std::vector<ConvCase> cases = {
      {2, 3, 7, 9, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1},     // 3x3 same padding, odd sizes
      {3, 4, 16, 16, 8, 3, 3, 2, 2, 2, 1, 1, 1, 1},   // grouped, strided
      {2, 6, 9, 7, 6, 3, 3, 6, 1, 1, 1, 1, 1, 1},     // depthwise
      {2, 5, 13, 11, 3, 3, 3, 1, 1, 1, 2, 2, 2, 2},   // dilated
      {1, 3, 10, 7, 5, 5, 3, 1, 3, 2, 2, 0, 1, 2},    // asymmetric kernel, stride, pad, dilation
      {4, 16, 8, 8, 32, 1, 1, 1, 1, 1, 0, 0, 1, 1},   // pointwise
      {2, 8, 15, 15, 16, 1, 1, 1, 2, 2, 0, 0, 1, 1},  // strided pointwise (resnet downsample)
      {2, 3, 33, 31, 16, 7, 7, 1, 2, 2, 3, 3, 1, 1},  // resnet stem, odd input
      {1, 6, 4, 5, 9, 2, 3, 3, 1, 2, 1, 1, 3, 1},     // grouped and dilated
      {3, 2, 1, 1, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1},     // one-pixel input
      {0, 3, 5, 5, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1},     // empty batch
  };
  return cases;
}

k::Conv2dShape conv_shape(const ConvCase& c) {
  return {c.N,
          c.C,
          c.H,
          c.W,
          c.Co,
          c.kh,
          c.kw,
          k::conv_output_size(c.H, c.kh, c.ph, c.sh, c.dh),
          k::conv_output_size(c.W, c.kw, c.pw, c.sw, c.dw),
          c.groups,
          c.sh,
          c.sw,
          c.ph,
          c.pw,
          c.dh,
          c.dw};
}

std::string describe(const k::Conv2dShape& s, DType dt) {
  return detail::concat("x(", s.N, ",", s.C, ",", s.H, ",", s.W, ") w(", s.Co, ",", s.C / s.groups,
                        ",", s.kh, ",", s.kw, ") g", s.groups, " s(", s.stride_h, ",", s.stride_w,
                        ") p(", s.pad_h, ",", s.pad_w, ") d(", s.dilation_h, ",", s.dilation_w,
                        ") ", dtype_name(dt));
}

// The three convolution families of one problem, on one device.
struct ConvResults {
  Tensor y, gx, gw;
};

ConvResults run_conv(Device d, const k::Conv2dShape& s, const Tensor& x, const Tensor& w,
                     const Tensor& b, const Tensor& gy) {
  const DType dt = x.dtype();
  const Tensor xd = on(x, d), wd = on(w, d), bd = on(b, d), gyd = on(gy, d);
  ConvResults r{poisoned({s.N, s.Co, s.oh, s.ow}, dt, d), poisoned(x.sizes(), dt, d),
                poisoned(w.sizes(), dt, d)};
  const k::KernelContext ctx = kernel_context(xd);
  k::conv2d_forward(ctx, s, buffer(xd), buffer(wd), buffer(bd), buffer(r.y));
  k::conv2d_backward_input(ctx, s, buffer(gyd), buffer(wd), buffer(r.gx));
  k::conv2d_backward_weight(ctx, s, buffer(xd), buffer(gyd), buffer(r.gw));
  return {r.y.cpu(), r.gx.cpu(), r.gw.cpu()};
}

// The three results against the CPU's (or another run's), each message naming the family.
void expect_conv_close(const ConvResults& got, const ConvResults& want, const Tol& tol,
                       const std::string& what) {
  expect_close(got.y, want.y, tol, what + ": forward");
  expect_close(got.gx, want.gx, tol, what + ": backward input");
  expect_close(got.gw, want.gw, tol, what + ": backward weight");
}

struct ConvInputs {
  Tensor x, w, b, gy;
};

ConvInputs conv_inputs(const k::Conv2dShape& s, DType dt, bool bias, Generator& gen) {
  return {random({s.N, s.C, s.H, s.W}, dt, gen),
          random({s.Co, s.C / s.groups, s.kh, s.kw}, dt, gen),
          bias ? random({s.Co}, dt, gen) : Tensor(), random({s.N, s.Co, s.oh, s.ow}, dt, gen)};
}

// float32 without TF32 (what these tolerances hold: TF32's 10-bit products would not) and
// float64 against the CPU's im2col + GEMM.
const Tol kConvF32{1e-4, 1e-4}, kConvF64{1e-11, 1e-11};

class Conv2dOnDevice : public tandem::testing::DeviceTest {};

TEST_P(Conv2dOnDevice, ForwardAndBothBackwardsMatchCpu) {
  Generator gen(21);
  for (bool deterministic : {true, false}) {
    MathOptionsGuard math({false, deterministic});
    for (DType dt : kDtypes)
      for (const ConvCase& c : conv_sweep())
        for (bool bias : {true, false}) {
          const k::Conv2dShape s = conv_shape(c);
          const std::string what = describe(s, dt) + (bias ? " bias" : "") +
                                   (deterministic ? " deterministic" : " any algorithm");
          const ConvInputs in = conv_inputs(s, dt, bias, gen);
          const ConvResults got = run_conv(device(), s, in.x, in.w, in.b, in.gy);
          const ConvResults want = run_conv(kCPU, s, in.x, in.w, in.b, in.gy);
          const Tol tol = tol_for(dt, kConvF32, kConvF64);
          expect_conv_close(got, want, tol, what);
        }
  }
}

TEST_P(Conv2dOnDevice, TransposedConvolutionShapes) {
  // conv_transpose2d's forward is conv2d_backward_input to an input of (in - 1) * stride - 2 * pad
  // + dilation * (k - 1) + output_padding + 1, output_padding < stride; its input-gradient is
  // conv2d_forward from that size.
  Generator gen(22);
  for (DType dt : kDtypes)
    for (int64_t output_padding : {0, 1}) {
      k::Conv2dShape s{2, 4, 0, 0, 3, 3, 3, 5, 6, 1, 2, 2, 1, 1, 1, 1};
      s.H = (s.oh - 1) * 2 - 2 + 2 + output_padding + 1;
      s.W = (s.ow - 1) * 2 - 2 + 2 + output_padding + 1;
      const ConvInputs in = conv_inputs(s, dt, false, gen);
      const ConvResults got = run_conv(device(), s, in.x, in.w, in.b, in.gy);
      const ConvResults want = run_conv(kCPU, s, in.x, in.w, in.b, in.gy);
      const std::string what =
          describe(s, dt) + " output_padding " + std::to_string(output_padding);
      const Tol tol = tol_for(dt, kConvF32, kConvF64);
      expect_conv_close(got, want, tol, what);
    }
}

TEST_P(Conv2dOnDevice, DeterministicAlgorithmsGiveIdenticalBits) {
  Generator gen(23);
  MathOptionsGuard math({false, true});
  for (const ConvCase& c : conv_sweep()) {
    const k::Conv2dShape s = conv_shape(c);
    const ConvInputs in = conv_inputs(s, DType::Float32, true, gen);
    const ConvResults a = run_conv(device(), s, in.x, in.w, in.b, in.gy);
    const ConvResults b = run_conv(device(), s, in.x, in.w, in.b, in.gy);
    const std::string what = describe(s, DType::Float32);
    expect_identical(a.y, b.y, what + ": forward");
    expect_identical(a.gx, b.gx, what + ": backward input");
    expect_identical(a.gw, b.gw, what + ": backward weight");
  }
}

TEST_P(Conv2dOnDevice, TF32WhenAllowedStaysCloseToFloat32) {
  if (!real_gpu(device())) GTEST_SKIP() << "TF32 exists only on a GPU";
  Generator gen(24);
  MathOptionsGuard math({true, true});
  for (const ConvCase& c : conv_sweep()) {
    const k::Conv2dShape s = conv_shape(c);
    const ConvInputs in = conv_inputs(s, DType::Float32, true, gen);
    const ConvResults got = run_conv(device(), s, in.x, in.w, in.b, in.gy);
    const ConvResults want = run_conv(kCPU, s, in.x, in.w, in.b, in.gy);
    const Tol tol{2e-2, 2e-2};
    const std::string what = describe(s, DType::Float32) + " tf32";
    expect_conv_close(got, want, tol, what);
  }
}

TEST_P(Conv2dOnDevice, HalfPrecisionMatchesFloat32OnTheSameValues) {
  if (!real_gpu(device())) GTEST_SKIP() << "float16/bfloat16 convolutions run on cuDNN only";
  Generator gen(25);
  for (DType dt : {DType::Float16, DType::BFloat16})
    for (const ConvCase& c : conv_sweep()) {
      const k::Conv2dShape s = conv_shape(c);
      const ConvInputs half = conv_inputs(s, dt, true, gen);
      // The CPU computes in float32 on exactly the half-precision values.
      auto f32 = [](const Tensor& t) { return t.defined() ? t.to(DType::Float32) : Tensor(); };
      const ConvResults got = run_conv(device(), s, half.x, half.w, half.b, half.gy);
      const ConvResults want =
          run_conv(kCPU, s, f32(half.x), f32(half.w), f32(half.b), f32(half.gy));
      const Tol tol = dt == DType::Float16 ? Tol{1e-2, 2e-2} : Tol{4e-2, 1e-1};
      const std::string what = describe(s, dt);
      expect_conv_close(got, want, tol, what);
    }
}

TANDEM_INSTANTIATE_DEVICE_TEST(Conv2dOnDevice);

// --- pooling -----------------------------------------------------------------------------------

// PyTorch's pooling output size (framework/ops/pooling.cpp), ceil_mode's last-window rule too.
int64_t pooled_size(int64_t in, int64_t k, int64_t pad, int64_t stride, int64_t dil, bool ceil) {
  const int64_t num = in + 2 * pad - dil * (k - 1) - 1 + (ceil ? stride - 1 : 0);
  int64_t out = (num >= 0 ? num / stride : -((-num + stride - 1) / stride)) + 1;
  if (ceil && (out - 1) * stride >= in + pad) --out;
  return out;
}

struct PoolCase {
  int64_t planes, h, w, k, s, pad, dil;
  bool ceil;
};

const std::vector<PoolCase>& pool_sweep() {
  static const std::vector<PoolCase> cases = {
      {6, 8, 8, 2, 2, 0, 1, false},    // the classic 2x2
      {6, 33, 35, 3, 2, 1, 1, false},  // resnet's stem pool, odd input
      {6, 33, 35, 3, 2, 1, 1, true},   // ... with ceil_mode
      {4, 7, 9, 3, 2, 0, 1, true},     // ceil_mode's partial last window
      {4, 9, 10, 3, 1, 1, 2, false},   // dilated
      {3, 5, 5, 2, 3, 1, 1, true},     // stride above the kernel
      {2, 1, 1, 1, 1, 0, 1, false},    // one pixel
      {0, 6, 6, 2, 2, 0, 1, false},    // no planes
      {5, 16, 12, 3, 3, 1, 1, false},
  };
  return cases;
}

k::PoolGeometry pool_geometry(const PoolCase& c, bool dilated) {
  const int64_t dil = dilated ? c.dil : 1;
  return {c.planes,
          c.h,
          c.w,
          pooled_size(c.h, c.k, c.pad, c.s, dil, c.ceil),
          pooled_size(c.w, c.k, c.pad, c.s, dil, c.ceil),
          c.k,
          c.k,
          c.s,
          c.s,
          c.pad,
          c.pad,
          dil,
          dil};
}

std::string describe(const k::PoolGeometry& g, DType dt) {
  return detail::concat(g.planes, "x", g.in_h, "x", g.in_w, " -> ", g.out_h, "x", g.out_w, " k",
                        g.kernel_h, " s", g.stride_h, " p", g.pad_h, " d", g.dilation_h, " ",
                        dtype_name(dt));
}

// Values with ties (multiples of 0.25) and a few NaNs, to exercise max pooling's index rules.
Tensor tied_values(const Shape& shape, DType dt, Generator& gen) {
  const Tensor v = (randn(shape, gen) * 4).to(DType::Int64).to(DType::Float32) * 0.25;
  const Tensor nan_mask = lt(rand(shape, gen), full(shape, 0.05));
  return where(nan_mask, full(shape, double(NAN)), v).to(dt);
}

// Pooling and upsampling compute the CPU's bits on a GPU: the same per-window functions, the
// gathers adding in the CPU's order, products never fused (kernels/common/pool_functors.h,
// upsample_functors.h). Only accumulating into a non-zero grad_in adds in another order.
const Tol kExact{0, 0};
const Tol kAccumulateF32{1e-6, 1e-6}, kAccumulateF64{1e-14, 1e-14};

class PoolingOnDevice : public tandem::testing::DeviceTest {};

TEST_P(PoolingOnDevice, MaxPoolValuesIndicesAndGradientMatchCpu) {
  Generator gen(31);
  for (DType dt : kDtypes)
    for (const PoolCase& c : pool_sweep()) {
      const k::PoolGeometry g = pool_geometry(c, true);
      const std::string what = describe(g, dt);
      const Tensor x = tied_values({g.planes, g.in_h, g.in_w}, dt, gen);
      const Tensor go = random({g.planes, g.out_h, g.out_w}, dt, gen);
      const Tensor init = random({g.planes, g.in_h, g.in_w}, dt, gen);
      struct Out {
        Tensor y, idx, gi, gi_acc;
      };
      auto run = [&](Device d) {
        const Tensor xd = on(x, d), god = on(go, d);
        Out o{poisoned({g.planes, g.out_h, g.out_w}, dt, d),
              poisoned({g.planes, g.out_h, g.out_w}, DType::Int64, d),
              zeros({g.planes, g.in_h, g.in_w}, TensorOptions(dt).with_device(d)), on(init, d)};
        const k::KernelContext ctx = kernel_context(xd);
        k::max_pool2d_forward(ctx, g, buffer(xd), buffer(o.y), buffer(o.idx));
        k::max_pool2d_backward(ctx, g, buffer(god), buffer(o.idx), buffer(o.gi));
        k::max_pool2d_backward(ctx, g, buffer(god), buffer(o.idx), buffer(o.gi_acc));
        return Out{o.y.cpu(), o.idx.cpu(), o.gi.cpu(), o.gi_acc.cpu()};
      };
      const Out got = run(device()), want = run(kCPU);
      expect_close(got.y, want.y, kExact, what + ": values");
      EXPECT_TRUE(equal(got.idx, want.idx)) << what << ": indices";
      expect_close(got.gi, want.gi, kExact, what + ": backward");
      expect_close(got.gi_acc, want.gi_acc, tol_for(dt, kAccumulateF32, kAccumulateF64),
                   what + ": backward accumulating");
    }
}

TEST_P(PoolingOnDevice, AvgPoolMatchesCpu) {
  Generator gen(32);
  for (DType dt : kDtypes)
    for (const PoolCase& c : pool_sweep())
      for (bool count_include_pad : {true, false}) {
        const k::PoolGeometry g = pool_geometry(c, false);
        const std::string what = describe(g, dt) + (count_include_pad ? " count_include_pad" : "");
        const Tensor x = random({g.planes, g.in_h, g.in_w}, dt, gen);
        const Tensor go = random({g.planes, g.out_h, g.out_w}, dt, gen);
        const Tensor init = random({g.planes, g.in_h, g.in_w}, dt, gen);
        auto run = [&](Device d) {
          const Tensor xd = on(x, d), god = on(go, d);
          Tensor y = poisoned({g.planes, g.out_h, g.out_w}, dt, d);
          Tensor gi = zeros({g.planes, g.in_h, g.in_w}, TensorOptions(dt).with_device(d));
          Tensor gi_acc = on(init, d);
          const k::KernelContext ctx = kernel_context(xd);
          k::avg_pool2d_forward(ctx, g, count_include_pad, 0, buffer(xd), buffer(y));
          k::avg_pool2d_backward(ctx, g, count_include_pad, 0, buffer(god), buffer(gi));
          k::avg_pool2d_backward(ctx, g, count_include_pad, 0, buffer(god), buffer(gi_acc));
          return std::vector<Tensor>{y.cpu(), gi.cpu(), gi_acc.cpu()};
        };
        const auto got = run(device()), want = run(kCPU);
        expect_close(got[0], want[0], kExact, what + ": forward");
        expect_close(got[1], want[1], kExact, what + ": backward");
        expect_close(got[2], want[2], tol_for(dt, kAccumulateF32, kAccumulateF64),
                     what + ": backward accumulating");
      }
}

TEST_P(PoolingOnDevice, AdaptiveAvgPoolMatchesCpu) {
  Generator gen(33);
  const int64_t sizes[][4] = {{7, 7, 1, 1},  {5, 7, 3, 2}, {4, 4, 7, 7},
                              {9, 13, 4, 5}, {1, 1, 2, 3}, {32, 30, 7, 7}};
  for (DType dt : kDtypes)
    for (const auto& sz : sizes)
      for (int64_t planes : {6, 0}) {
        const k::PoolGeometry g{planes, sz[0], sz[1], sz[2], sz[3], 0, 0, 0, 0, 0, 0, 1, 1};
        const std::string what = describe(g, dt);
        const Tensor x = random({planes, g.in_h, g.in_w}, dt, gen);
        const Tensor go = random({planes, g.out_h, g.out_w}, dt, gen);
        auto run = [&](Device d) {
          const Tensor xd = on(x, d), god = on(go, d);
          Tensor y = poisoned({planes, g.out_h, g.out_w}, dt, d);
          Tensor gi = zeros({planes, g.in_h, g.in_w}, TensorOptions(dt).with_device(d));
          const k::KernelContext ctx = kernel_context(xd);
          k::adaptive_avg_pool2d_forward(ctx, g, buffer(xd), buffer(y));
          k::adaptive_avg_pool2d_backward(ctx, g, buffer(god), buffer(gi));
          return std::vector<Tensor>{y.cpu(), gi.cpu()};
        };
        const auto got = run(device()), want = run(kCPU);
        expect_close(got[0], want[0], kExact, what + ": forward");
        expect_close(got[1], want[1], kExact, what + ": backward");
      }
}

TANDEM_INSTANTIATE_DEVICE_TEST(PoolingOnDevice);

// --- batch normalisation -----------------------------------------------------------------------

struct BatchNormResults {
  Tensor mean, var, y, gx, sum_gy, sum_gy_xhat;
};

class BatchNormOnDevice : public tandem::testing::DeviceTest {};

TEST_P(BatchNormOnDevice, StatsApplyAndBackwardMatchCpu) {
  Generator gen(41);
  // (N, C, S): BatchNorm2d-like, BatchNorm1d (S = 1), one long channel, odd sizes.
  const k::ChannelLayout layouts[] = {{4, 3, 25}, {2, 5, 1},   {1, 2, 3000},
                                      {3, 1, 7},  {16, 8, 49}, {64, 4, 1}};
  for (DType dt : kDtypes)
    for (const k::ChannelLayout& l : layouts)
      for (bool affine : {true, false})
        for (bool train : {true, false}) {
          const std::string what =
              detail::concat("(", l.N, ", ", l.C, ", ", l.S, ") ", dtype_name(dt),
                             affine ? " affine" : "", train ? " train" : " eval");
          const Tensor x = random({l.N, l.C, l.S}, dt, gen, 2.0, 0.5);
          const Tensor gy = random({l.N, l.C, l.S}, dt, gen);
          const Tensor w = affine ? random({l.C}, dt, gen) : Tensor();
          const Tensor b = affine ? random({l.C}, dt, gen) : Tensor();
          // The statistics the apply and backward kernels read: the CPU's, on both devices.
          Tensor mean = empty({l.C}, TensorOptions(DType::Float64));
          Tensor var = empty({l.C}, TensorOptions(DType::Float64));
          k::batch_norm_stats(kernel_context(x), l, buffer(x), buffer(mean), buffer(var));
          const Tensor invstd = 1.0 / sqrt(var + 1e-5);
          auto run = [&](Device d) {
            const Tensor xd = on(x, d), gyd = on(gy, d), wd = on(w, d), bd = on(b, d);
            const Tensor meand = on(mean, d), invstdd = on(invstd, d);
            BatchNormResults r{
                poisoned({l.C}, DType::Float64, d), poisoned({l.C}, DType::Float64, d),
                poisoned(x.sizes(), dt, d),         poisoned(x.sizes(), dt, d),
                poisoned({l.C}, DType::Float64, d), poisoned({l.C}, DType::Float64, d)};
            const k::KernelContext ctx = kernel_context(xd);
            k::batch_norm_stats(ctx, l, buffer(xd), buffer(r.mean), buffer(r.var));
            k::batch_norm_apply(ctx, l, buffer(xd), buffer(meand), buffer(invstdd), buffer(wd),
                                buffer(bd), buffer(r.y));
            k::batch_norm_backward(ctx, l, train, buffer(xd), buffer(gyd), buffer(meand),
                                   buffer(invstdd), buffer(wd), buffer(r.gx), buffer(r.sum_gy),
                                   buffer(r.sum_gy_xhat));
            return BatchNormResults{r.mean.cpu(), r.var.cpu(),    r.y.cpu(),
                                    r.gx.cpu(),   r.sum_gy.cpu(), r.sum_gy_xhat.cpu()};
          };
          const BatchNormResults got = run(device()), want = run(kCPU);
          // Sums in double in another order: close to double precision, relative to the terms.
          const double count = double(l.N * l.S);
          const Tol sums{1e-12, 1e-12 * count};
          expect_close(got.mean, want.mean, sums, what + ": mean");
          expect_close(got.var, want.var, sums, what + ": var");
          expect_close(got.sum_gy, want.sum_gy, sums, what + ": sum(gy)");
          expect_close(got.sum_gy_xhat, want.sum_gy_xhat, sums, what + ": sum(gy * xhat)");
          const Tol tol = tol_for(dt, {1e-5, 1e-5}, {1e-11, 1e-11});
          expect_close(got.y, want.y, tol, what + ": apply");
          expect_close(got.gx, want.gx, tol, what + ": grad_x");
        }
}

TEST_P(BatchNormOnDevice, EmptyBatch) {
  // An eval-mode batch of zero images: nothing to normalise, sums of nothing are zero.
  Generator gen(42);
  const k::ChannelLayout l{0, 3, 4};
  const Tensor mean = random({3}, DType::Float64, gen);
  const Tensor invstd = random({3}, DType::Float64, gen, 0.1, 1.0);
  const Tensor x = zeros({0, 3, 4}, TensorOptions().with_device(device()));
  const Tensor meand = on(mean, device()), invstdd = on(invstd, device());
  Tensor y = empty({0, 3, 4}, TensorOptions().with_device(device()));
  Tensor gx = empty({0, 3, 4}, TensorOptions().with_device(device()));
  Tensor sum_gy = poisoned({3}, DType::Float64, device());
  Tensor sum_gy_xhat = poisoned({3}, DType::Float64, device());
  const k::KernelContext ctx = kernel_context(meand);
  k::batch_norm_apply(ctx, l, buffer(x), buffer(meand), buffer(invstdd), {}, {}, buffer(y));
  k::batch_norm_backward(ctx, l, false, buffer(x), buffer(x), buffer(meand), buffer(invstdd), {},
                         buffer(gx), buffer(sum_gy), buffer(sum_gy_xhat));
  expect_close(sum_gy, zeros({3}, TensorOptions(DType::Float64)), kExact, "sum(gy)");
  expect_close(sum_gy_xhat, zeros({3}, TensorOptions(DType::Float64)), kExact, "sum(gy * xhat)");
}

TEST_P(BatchNormOnDevice, RepeatedRunsGiveIdenticalBits) {
  Generator gen(43);
  const k::ChannelLayout l{32, 16, 196};
  const Tensor x = random({l.N, l.C, l.S}, DType::Float32, gen, 3.0, 1.0).to(device());
  const Tensor gy = random({l.N, l.C, l.S}, DType::Float32, gen).to(device());
  auto run = [&] {
    const TensorOptions f64 = TensorOptions(DType::Float64).with_device(device());
    Tensor mean = empty({l.C}, f64), var = empty({l.C}, f64);
    Tensor gx = empty(x.sizes(), x.options()), sg = empty({l.C}, f64), sgx = empty({l.C}, f64);
    const k::KernelContext ctx = kernel_context(x);
    k::batch_norm_stats(ctx, l, buffer(x), buffer(mean), buffer(var));
    const Tensor invstd = 1.0 / sqrt(var + 1e-5);
    k::batch_norm_backward(ctx, l, true, buffer(x), buffer(gy), buffer(mean), buffer(invstd), {},
                           buffer(gx), buffer(sg), buffer(sgx));
    return std::vector<Tensor>{mean.cpu(), var.cpu(), gx.cpu(), sg.cpu(), sgx.cpu()};
  };
  const auto a = run(), b = run();
  for (size_t i = 0; i < a.size(); ++i) expect_identical(a[i], b[i], "output " + std::to_string(i));
}

TANDEM_INSTANTIATE_DEVICE_TEST(BatchNormOnDevice);

// --- upsampling --------------------------------------------------------------------------------

// Geometries as framework/ops/upsample.cpp makes them: from an output size (scale in/out, or
// (in-1)/(out-1) with align_corners) or from a scale factor (scale 1/factor).
std::vector<k::UpsampleGeometry> upsample_sweep(bool bilinear) {
  std::vector<k::UpsampleGeometry> out;
  for (bool ac : bilinear ? std::vector<bool>{false, true} : std::vector<bool>{false}) {
    auto scale = [&](int64_t in, int64_t o, double factor) {
      if (ac) return o > 1 ? double(in - 1) / double(o - 1) : 0.0;
      return factor > 0 ? 1.0 / factor : double(in) / double(o);
    };
    const int64_t sizes[][4] = {{5, 7, 10, 14},  {8, 8, 13, 5}, {17, 13, 32, 40},
                                {32, 32, 15, 9}, {1, 1, 4, 3},  {3, 4, 1, 1}};
    for (const auto& s : sizes)
      out.push_back({6, s[0], s[1], s[2], s[3], scale(s[0], s[2], 0), scale(s[1], s[3], 0), ac});
    for (double f : {2.0, 1.5, 0.5, 3.0}) {
      const int64_t in_h = 7, in_w = 6;
      const int64_t oh = int64_t(std::floor(in_h * f)), ow = int64_t(std::floor(in_w * f));
      out.push_back({6, in_h, in_w, oh, ow, scale(in_h, oh, f), scale(in_w, ow, f), ac});
    }
    out.push_back({0, 4, 4, 8, 8, scale(4, 8, 0), scale(4, 8, 0), ac});  // no planes
  }
  return out;
}

std::string describe(const k::UpsampleGeometry& g, DType dt) {
  return detail::concat(g.planes, "x", g.in_h, "x", g.in_w, " -> ", g.out_h, "x", g.out_w,
                        " scale ", g.scale_h, ",", g.scale_w,
                        g.align_corners ? " align_corners " : " ", dtype_name(dt));
}

class UpsampleOnDevice : public tandem::testing::DeviceTest {};

void check_upsample(Device device, bool bilinear, Generator& gen) {
  for (DType dt : kDtypes)
    for (const k::UpsampleGeometry& g : upsample_sweep(bilinear)) {
      const std::string what = describe(g, dt);
      const Tensor x = random({g.planes, g.in_h, g.in_w}, dt, gen);
      const Tensor go = random({g.planes, g.out_h, g.out_w}, dt, gen);
      const Tensor init = random({g.planes, g.in_h, g.in_w}, dt, gen);
      auto run = [&](Device d) {
        const Tensor xd = on(x, d), god = on(go, d);
        Tensor y = poisoned({g.planes, g.out_h, g.out_w}, dt, d);
        Tensor gi = zeros({g.planes, g.in_h, g.in_w}, TensorOptions(dt).with_device(d));
        Tensor gi_acc = on(init, d);
        const k::KernelContext ctx = kernel_context(xd);
        (bilinear ? k::upsample_bilinear2d_forward : k::upsample_nearest2d_forward)(
            ctx, g, buffer(xd), buffer(y));
        for (Tensor* t : {&gi, &gi_acc})
          (bilinear ? k::upsample_bilinear2d_backward : k::upsample_nearest2d_backward)(
              ctx, g, buffer(god), buffer(*t));
        return std::vector<Tensor>{y.cpu(), gi.cpu(), gi_acc.cpu()};
      };
      const auto got = run(device), want = run(kCPU);
      expect_close(got[0], want[0], kExact, what + ": forward");
      expect_close(got[1], want[1], kExact, what + ": backward");
      expect_close(got[2], want[2], tol_for(dt, kAccumulateF32, kAccumulateF64),
                   what + ": backward accumulating");
    }
}

TEST_P(UpsampleOnDevice, NearestMatchesCpu) {
  Generator gen(51);
  check_upsample(device(), false, gen);
}

TEST_P(UpsampleOnDevice, BilinearMatchesCpu) {
  Generator gen(52);
  check_upsample(device(), true, gen);
}

TANDEM_INSTANTIATE_DEVICE_TEST(UpsampleOnDevice);

// --- beyond 32-bit indexing ----------------------------------------------------------------------

class SpatialLargeOnDevice : public tandem::testing::DeviceTest {};

// Max pooling and nearest upsampling over more than 2^31 input elements (about 24 GiB of device
// memory at most): the last planes, past element 2^31, against the CPU kernels run on those planes
// alone.
TEST_P(SpatialLargeOnDevice, PoolingAndUpsamplingPastTwoToThe31Elements) {
  if (!real_gpu(device())) GTEST_SKIP() << "needs a real GPU with about 24 GiB free";
  const auto [free_bytes, total_bytes] = k::device::cuda_runtime().memory_info(device().index);
  (void)total_bytes;
  if (free_bytes < (size_t(28) << 30)) GTEST_SKIP() << "needs about 24 GiB of free device memory";
  Generator gen(61);
  const int64_t h = 64, w = 64, planes = (int64_t(1) << 31) / (h * w) + 3, tail = 3;
  const TensorOptions opts = TensorOptions(DType::Float32).with_device(device());
  const Tensor last = random({tail, h, w}, DType::Float32, gen);
  Tensor x = full({planes, h, w}, 1.0, opts);
  x.narrow(0, planes - tail, tail).copy_(last.to(device()));
  const k::KernelContext ctx = kernel_context(x);
  {
    const k::PoolGeometry g{planes, h, w, h / 2, w / 2, 2, 2, 2, 2, 0, 0, 1, 1};
    Tensor y = poisoned({planes, h / 2, w / 2}, DType::Float32, device());
    Tensor idx = poisoned({planes, h / 2, w / 2}, DType::Int64, device());
    k::max_pool2d_forward(ctx, g, buffer(x), buffer(y), buffer(idx));
    Tensor gi = zeros({planes, h, w}, opts);
    k::max_pool2d_backward(ctx, g, buffer(y), buffer(idx), buffer(gi));
    k::PoolGeometry tg = g;
    tg.planes = tail;
    Tensor ty = empty({tail, h / 2, w / 2}),
           tidx = empty({tail, h / 2, w / 2}, TensorOptions(DType::Int64));
    Tensor tgi = zeros({tail, h, w});
    k::max_pool2d_forward(kernel_context(last), tg, buffer(last), buffer(ty), buffer(tidx));
    k::max_pool2d_backward(kernel_context(last), tg, buffer(ty), buffer(tidx), buffer(tgi));
    expect_close(y.narrow(0, planes - tail, tail), ty, kExact, "max_pool2d values");
    EXPECT_TRUE(equal(idx.narrow(0, planes - tail, tail).cpu(), tidx)) << "max_pool2d indices";
    expect_close(gi.narrow(0, planes - tail, tail), tgi, kExact, "max_pool2d backward");
    expect_close(y.narrow(0, 0, 1), ones({1, h / 2, w / 2}), kExact, "max_pool2d first plane");
  }
  {
    const k::UpsampleGeometry g{planes, h, w, h, w, 1.0, 1.0, false};  // a copy
    Tensor y = poisoned({planes, h, w}, DType::Float32, device());
    k::upsample_nearest2d_forward(ctx, g, buffer(x), buffer(y));
    expect_close(y.narrow(0, planes - tail, tail), last, kExact, "upsample_nearest2d");
  }
}

TANDEM_INSTANTIATE_DEVICE_TEST(SpatialLargeOnDevice);

}  // namespace
