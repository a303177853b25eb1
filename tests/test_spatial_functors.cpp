// The pooling and upsampling arithmetic the CUDA kernels run (kernels/common/pool_functors.h,
// upsample_functors.h), checked on the CPU against the CPU kernels over sweeps of odd sizes,
// padding, ceil_mode, dilation and scales: the per-output functions give the CPU's forward
// bit for bit (max pooling's values and indices too, with ties and NaNs), the gather form of each
// backward (one input element at a time, as a GPU thread computes it) gives the CPU's scatter bit
// for bit, and the "which outputs read this input" ranges are exactly the brute-force sets. The
// (N, C, S) walks of the batch-norm and channel-bias kernels (kernels/common/channel_walk.h) give
// the offsets and channels the division gives.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/common/channel_walk.h"
#include "kernels/common/pool_functors.h"
#include "kernels/common/upsample_functors.h"
#include "kernels/kernel_table.h"

namespace k = tandem::kernels;
using k::PoolGeometry;
using k::UpsampleGeometry;

namespace {

const k::KernelContext kCpuContext{tandem::kCPU, nullptr};

template <typename T>
k::Buffer buf(std::vector<T>& v) {
  return {v.data(), tandem::dtype_of<T>::value};
}

// PyTorch's pooling output size (framework/ops/pooling.cpp), ceil_mode's last-window rule too.
int64_t pooled_size(int64_t in, int64_t k, int64_t pad, int64_t stride, int64_t dil, bool ceil) {
  const int64_t num = in + 2 * pad - dil * (k - 1) - 1 + (ceil ? stride - 1 : 0);
  int64_t out = (num >= 0 ? num / stride : -((-num + stride - 1) / stride)) + 1;
  if (ceil && (out - 1) * stride >= in + pad) --out;
  return out;
}

// Every valid pooling geometry over a few odd and even sizes (pad at most half the effective
// kernel, as PyTorch checks).
std::vector<PoolGeometry> pool_sweep(bool dilations) {
  std::vector<PoolGeometry> out;
  const int64_t sizes[][2] = {{7, 9}, {5, 5}, {1, 1}, {8, 6}, {2, 3}};
  for (const auto& hw : sizes)
    for (int64_t kh : {1, 2, 3})
      for (int64_t kw : {1, 3})
        for (int64_t s : {1, 2, 3})
          for (int64_t pad : {0, 1})
            for (int64_t dil : dilations ? std::vector<int64_t>{1, 2} : std::vector<int64_t>{1})
              for (bool ceil : {false, true}) {
                if (pad > ((kh - 1) * dil + 1) / 2 || pad > ((kw - 1) * dil + 1) / 2) continue;
                const int64_t oh = pooled_size(hw[0], kh, pad, s, dil, ceil);
                const int64_t ow = pooled_size(hw[1], kw, pad, s == 3 ? 2 : s, dil, ceil);
                if (oh <= 0 || ow <= 0) continue;
                out.push_back(
                    {3, hw[0], hw[1], oh, ow, kh, kw, s, s == 3 ? 2 : s, pad, pad, dil, dil});
              }
  return out;
}

std::string describe(const PoolGeometry& g) {
  return tandem::detail::concat("in ", g.in_h, "x", g.in_w, " out ", g.out_h, "x", g.out_w, " k ",
                                g.kernel_h, "x", g.kernel_w, " s ", g.stride_h, "x", g.stride_w,
                                " p ", g.pad_h, " d ", g.dilation_h);
}

// Values with many ties (multiples of 0.25) and, when asked, NaNs.
template <typename T>
std::vector<T> values(int64_t n, std::mt19937& rng, bool nans) {
  std::uniform_int_distribution<int> d(-4, 4);
  std::uniform_int_distribution<int> pick(0, 16);
  std::vector<T> v(static_cast<size_t>(n));
  for (T& x : v) x = nans && pick(rng) == 0 ? T(NAN) : T(d(rng)) * T(0.25);
  return v;
}

template <typename T>
std::vector<T> random_values(int64_t n, std::mt19937& rng) {
  std::uniform_real_distribution<double> d(-1, 1);
  std::vector<T> v(static_cast<size_t>(n));
  for (T& x : v) x = T(d(rng));
  return v;
}

// Bitwise equality (NaN equals NaN of the same bits).
template <typename T>
void expect_same_bits(const std::vector<T>& got, const std::vector<T>& want,
                      const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_EQ(std::memcmp(&got[i], &want[i], sizeof(T)), 0)
        << what << " at " << i << ": " << got[i] << " vs " << want[i];
}

// The gather form over whole planes: out[p][h][w] = grad_in[p][h][w] + f(plane p, h, w).
template <typename T, typename F>
std::vector<T> gather(int64_t planes, int64_t h, int64_t w, std::vector<T> grad_in, F f) {
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t i = 0; i < h; ++i)
      for (int64_t j = 0; j < w; ++j) grad_in[size_t((p * h + i) * w + j)] += f(p, i, j);
  return grad_in;
}

template <typename T>
void check_max_pool(const PoolGeometry& g, std::mt19937& rng) {
  const int64_t n_in = g.planes * g.in_h * g.in_w, n_out = g.planes * g.out_h * g.out_w;
  auto in = values<T>(n_in, rng, true);
  std::vector<T> out(static_cast<size_t>(n_out));
  std::vector<int64_t> idx(static_cast<size_t>(n_out));
  k::max_pool2d_forward(kCpuContext, g, buf(in), buf(out), buf(idx));
  // Forward: the shared window function, output by output (the CPU's interior path is its own).
  std::vector<T> out2(out.size());
  std::vector<int64_t> idx2(idx.size());
  for (int64_t o = 0; o < n_out; ++o) {
    const int64_t p = o / (g.out_h * g.out_w), oh = (o / g.out_w) % g.out_h, ow = o % g.out_w;
    k::max_pool_window(in.data() + p * g.in_h * g.in_w, g, oh, ow, out2[size_t(o)],
                       idx2[size_t(o)]);
  }
  expect_same_bits(out2, out, "max_pool values");
  ASSERT_EQ(idx2, idx) << "max_pool indices";
  // Backward: scatter (CPU) and gather (GPU form) from the same zeroed grad_in.
  auto go = random_values<T>(n_out, rng);
  std::vector<T> scattered(static_cast<size_t>(n_in), T(0));
  k::max_pool2d_backward(kCpuContext, g, buf(go), buf(idx), buf(scattered));
  const auto gathered =
      gather(g.planes, g.in_h, g.in_w, std::vector<T>(static_cast<size_t>(n_in), T(0)),
             [&](int64_t p, int64_t h, int64_t w) {
               const int64_t base = p * g.out_h * g.out_w;
               return k::max_pool_grad_at(go.data() + base, idx.data() + base, g, h, w);
             });
  expect_same_bits(gathered, scattered, "max_pool backward");
}

template <typename T>
void check_avg_pool(const PoolGeometry& g, bool count_include_pad, std::mt19937& rng) {
  const int64_t n_in = g.planes * g.in_h * g.in_w, n_out = g.planes * g.out_h * g.out_w;
  auto in = random_values<T>(n_in, rng);
  std::vector<T> out(static_cast<size_t>(n_out)), out2(static_cast<size_t>(n_out));
  k::avg_pool2d_forward(kCpuContext, g, count_include_pad, 0, buf(in), buf(out));
  for (int64_t o = 0; o < n_out; ++o) {
    const int64_t p = o / (g.out_h * g.out_w), oh = (o / g.out_w) % g.out_h, ow = o % g.out_w;
    out2[size_t(o)] =
        k::avg_pool_window(in.data() + p * g.in_h * g.in_w, g, oh, ow, count_include_pad);
  }
  expect_same_bits(out2, out, "avg_pool forward");
  auto go = random_values<T>(n_out, rng);
  std::vector<T> scattered(static_cast<size_t>(n_in), T(0));
  k::avg_pool2d_backward(kCpuContext, g, count_include_pad, 0, buf(go), buf(scattered));
  const auto gathered = gather(
      g.planes, g.in_h, g.in_w, std::vector<T>(static_cast<size_t>(n_in), T(0)),
      [&](int64_t p, int64_t h, int64_t w) {
        return k::avg_pool_grad_at(go.data() + p * g.out_h * g.out_w, g, count_include_pad, h, w);
      });
  expect_same_bits(gathered, scattered, "avg_pool backward");
}

}  // namespace

TEST(PoolFunctors, WindowsCoveringAnInputAreExactlyThoseHoldingIt) {
  for (int64_t in : {1, 4, 7})
    for (int64_t pad : {0, 1, 2})
      for (int64_t extent : {1, 2, 3, 5})
        for (int64_t stride : {1, 2, 3})
          for (int64_t out : {1, 3, 6}) {
            for (int64_t i = 0; i < in; ++i) {
              const k::IndexRange r = k::windows_covering(i, pad, extent, stride, out);
              for (int64_t o = 0; o < out; ++o) {
                const int64_t start = o * stride - pad;
                const bool holds = start <= i && i < start + extent;
                EXPECT_EQ(holds, o >= r.begin && o < r.end)
                    << "i " << i << " o " << o << " pad " << pad << " extent " << extent
                    << " stride " << stride;
              }
            }
          }
}

TEST(PoolFunctors, AdaptiveWindowsCoveringAnInputAreExactlyThoseHoldingIt) {
  for (int64_t in = 1; in <= 13; ++in)
    for (int64_t out = 1; out <= 13; ++out)
      for (int64_t i = 0; i < in; ++i) {
        const k::IndexRange r = k::adaptive_windows_covering(i, out, in);
        for (int64_t o = 0; o < out; ++o) {
          const bool holds = k::adaptive_start(o, out, in) <= i && i < k::adaptive_end(o, out, in);
          EXPECT_EQ(holds, o >= r.begin && o < r.end) << in << " -> " << out << " i " << i;
        }
      }
}

TEST(PoolFunctors, MaxPoolWindowAndGatherEqualTheCpuKernels) {
  std::mt19937 rng(5);
  const auto sweep = pool_sweep(true);
  ASSERT_GT(sweep.size(), 200u);
  for (const PoolGeometry& g : sweep) {
    SCOPED_TRACE(describe(g));
    check_max_pool<float>(g, rng);
    check_max_pool<double>(g, rng);
  }
}

TEST(PoolFunctors, AvgPoolWindowAndGatherEqualTheCpuKernels) {
  std::mt19937 rng(6);
  for (const PoolGeometry& g : pool_sweep(false))
    for (bool cip : {false, true}) {
      SCOPED_TRACE(describe(g) + (cip ? " count_include_pad" : ""));
      check_avg_pool<float>(g, cip, rng);
      check_avg_pool<double>(g, cip, rng);
    }
}

TEST(PoolFunctors, AdaptiveAvgPoolWindowAndGatherEqualTheCpuKernels) {
  std::mt19937 rng(7);
  for (int64_t ih : {1, 5, 7, 10})
    for (int64_t iw : {3, 8})
      for (int64_t oh : {1, 2, 3, 7, 12})
        for (int64_t ow : {1, 4, 5}) {
          SCOPED_TRACE(tandem::detail::concat(ih, "x", iw, " -> ", oh, "x", ow));
          const PoolGeometry g{2, ih, iw, oh, ow, 0, 0, 0, 0, 0, 0, 1, 1};
          const int64_t n_in = 2 * ih * iw, n_out = 2 * oh * ow;
          auto in = random_values<float>(n_in, rng);
          std::vector<float> out(static_cast<size_t>(n_out)), out2(static_cast<size_t>(n_out));
          k::adaptive_avg_pool2d_forward(kCpuContext, g, buf(in), buf(out));
          for (int64_t o = 0; o < n_out; ++o) {
            const int64_t p = o / (oh * ow);
            out2[size_t(o)] =
                k::adaptive_avg_window(in.data() + p * ih * iw, g, (o / ow) % oh, o % ow);
          }
          expect_same_bits(out2, out, "adaptive forward");
          auto go = random_values<float>(n_out, rng);
          std::vector<float> scattered(static_cast<size_t>(n_in), 0.0f);
          k::adaptive_avg_pool2d_backward(kCpuContext, g, buf(go), buf(scattered));
          const auto gathered =
              gather(2, ih, iw, std::vector<float>(static_cast<size_t>(n_in), 0.0f),
                     [&](int64_t p, int64_t h, int64_t w) {
                       return k::adaptive_avg_grad_at(go.data() + p * oh * ow, g, h, w);
                     });
          expect_same_bits(gathered, scattered, "adaptive backward");
        }
}

namespace {

// Upsampling geometries as framework/ops/upsample.cpp makes them: from an output size (scale
// in/out, or (in-1)/(out-1) with align_corners) or from a scale factor (scale 1/factor).
std::vector<UpsampleGeometry> upsample_sweep(bool bilinear) {
  std::vector<UpsampleGeometry> out;
  auto scale = [&](int64_t in, int64_t o, double factor, bool ac) {
    if (bilinear && ac) return o > 1 ? double(in - 1) / double(o - 1) : 0.0;
    return factor > 0 ? 1.0 / factor : double(in) / double(o);
  };
  for (bool ac : bilinear ? std::vector<bool>{false, true} : std::vector<bool>{false}) {
    for (int64_t in : {1, 2, 3, 5, 7})
      for (int64_t o : {1, 2, 3, 4, 7, 9, 16})
        out.push_back({2, in, 7 - in % 3, o, 3 + o % 4, scale(in, o, 0, ac),
                       scale(7 - in % 3, 3 + o % 4, 0, ac), ac});
    for (int64_t in : {3, 5, 6})
      for (double f : {0.5, 1.7, 2.0, 3.0, 4.5}) {
        const int64_t o = int64_t(std::floor(double(in) * f));
        if (o > 0)
          out.push_back({2, in, in + 1, o, int64_t(std::floor(double(in + 1) * f)),
                         scale(in, o, f, ac),
                         scale(in + 1, int64_t(std::floor(double(in + 1) * f)), f, ac), ac});
      }
  }
  return out;
}

std::string describe(const UpsampleGeometry& g) {
  return tandem::detail::concat(g.in_h, "x", g.in_w, " -> ", g.out_h, "x", g.out_w, " scale ",
                                g.scale_h, ",", g.scale_w, g.align_corners ? " align_corners" : "");
}

template <typename T, bool Bilinear>
void check_upsample(const UpsampleGeometry& g, std::mt19937& rng) {
  const int64_t n_in = g.planes * g.in_h * g.in_w, n_out = g.planes * g.out_h * g.out_w;
  auto in = random_values<T>(n_in, rng);
  std::vector<T> out(static_cast<size_t>(n_out)), out2(static_cast<size_t>(n_out));
  (Bilinear ? k::upsample_bilinear2d_forward : k::upsample_nearest2d_forward)(kCpuContext, g,
                                                                              buf(in), buf(out));
  for (int64_t o = 0; o < n_out; ++o) {
    const int64_t p = o / (g.out_h * g.out_w), oh = (o / g.out_w) % g.out_h, ow = o % g.out_w;
    const T* plane = in.data() + p * g.in_h * g.in_w;
    out2[size_t(o)] = Bilinear ? k::upsample_bilinear_at(plane, g, oh, ow)
                               : k::upsample_nearest_at(plane, g, oh, ow);
  }
  expect_same_bits(out2, out, "upsample forward");
  auto go = random_values<T>(n_out, rng);
  std::vector<T> scattered(static_cast<size_t>(n_in), T(0));
  (Bilinear ? k::upsample_bilinear2d_backward : k::upsample_nearest2d_backward)(
      kCpuContext, g, buf(go), buf(scattered));
  const auto gathered =
      gather(g.planes, g.in_h, g.in_w, std::vector<T>(static_cast<size_t>(n_in), T(0)),
             [&](int64_t p, int64_t h, int64_t w) {
               const T* plane = go.data() + p * g.out_h * g.out_w;
               return Bilinear ? k::upsample_bilinear_grad_at(plane, g, h, w)
                               : k::upsample_nearest_grad_at(plane, g, h, w);
             });
  expect_same_bits(gathered, scattered, "upsample backward");
}

}  // namespace

TEST(UpsampleFunctors, OutputRangesAreExactlyTheOutputsReadingAnInput) {
  for (const UpsampleGeometry& g : upsample_sweep(true)) {
    SCOPED_TRACE(describe(g));
    for (int64_t i = 0; i < g.in_h; ++i) {
      const k::IndexRange nr = k::nearest_outputs_of(i, g.in_h, g.out_h, g.scale_h);
      const k::IndexRange lr = k::linear_outputs_of(i, g.in_h, g.out_h, g.scale_h, g.align_corners);
      for (int64_t o = 0; o < g.out_h; ++o) {
        EXPECT_EQ(k::nearest_source(o, g.in_h, g.scale_h) == i, o >= nr.begin && o < nr.end)
            << "nearest i " << i << " o " << o;
        const k::LinearTaps t = k::linear_taps(o, g.in_h, g.scale_h, g.align_corners);
        EXPECT_EQ(t.i0 == i || t.i1 == i, o >= lr.begin && o < lr.end)
            << "bilinear i " << i << " o " << o;
      }
    }
  }
}

TEST(UpsampleFunctors, NearestAndGatherEqualTheCpuKernels) {
  std::mt19937 rng(8);
  for (const UpsampleGeometry& g : upsample_sweep(false)) {
    SCOPED_TRACE(describe(g));
    check_upsample<float, false>(g, rng);
    check_upsample<double, false>(g, rng);
  }
}

TEST(UpsampleFunctors, BilinearAndGatherEqualTheCpuKernels) {
  std::mt19937 rng(9);
  for (const UpsampleGeometry& g : upsample_sweep(true)) {
    SCOPED_TRACE(describe(g));
    check_upsample<float, true>(g, rng);
    check_upsample<double, true>(g, rng);
  }
}

// Every thread's sequence first, first + step, ...: the channel walks track (e / S, e % S) and
// (i / S) % C as a kernel's threads do (steps below, equal to and above S and C * S; a thread
// starting past the end; the 512-thread block and 4096 x 256 grid the kernels use).
TEST(ChannelWalk, OffsetsAndChannelsEqualTheDivision) {
  for (int64_t N : {1, 3, 7})
    for (int64_t C : {1, 2, 5, 64})
      for (int64_t S : {1, 3, 16, 49, 1000})
        for (int64_t step : {int64_t(1), int64_t(3), S, C * S + 1, int64_t(512), int64_t(1) << 20})
          for (int64_t first : {int64_t(0), int64_t(1), step - 1, int64_t(511)}) {
            const std::string what = "N " + std::to_string(N) + " C " + std::to_string(C) + " S " +
                                     std::to_string(S) + " step " + std::to_string(step) +
                                     " first " + std::to_string(first);
            for (int64_t c = 0; c<C; c += C> 2 ? C / 2 : 1) {
              k::ChannelElementWalk at(first, step, c, C, S);
              for (int64_t e = first; e < N * S; e += step, at.advance())
                ASSERT_EQ(at.offset, ((e / S) * C + c) * S + e % S) << what << " c " << c;
            }
            k::ChannelIndexWalk ch(first, step, C, S);
            for (int64_t i = first; i < N * C * S; i += step, ch.advance())
              ASSERT_EQ(ch.channel, (i / S) % C) << what << " element " << i;
          }
  // An empty layout: the walks start (dividing by 1, not 0) and visit nothing.
  EXPECT_EQ(k::ChannelElementWalk(3, 512, 0, 4, 0).s, 0);
  EXPECT_EQ(k::ChannelIndexWalk(3, 512, 0, 0).channel, 0);
}

TEST(PoolFunctors, AdaptiveMaxPoolWindowAndGatherEqualTheCpuKernels) {
  std::mt19937 rng(8);
  for (int64_t ih : {1, 5, 7})
    for (int64_t iw : {3, 8})
      for (int64_t oh : {1, 3, 7, 12})
        for (int64_t ow : {1, 4, 5}) {
          SCOPED_TRACE(tandem::detail::concat(ih, "x", iw, " -> ", oh, "x", ow));
          const PoolGeometry g{2, ih, iw, oh, ow, 0, 0, 0, 0, 0, 0, 1, 1};
          const int64_t n_in = 2 * ih * iw, n_out = 2 * oh * ow;
          auto in = random_values<double>(n_in, rng);
          std::vector<double> out(static_cast<size_t>(n_out)), out2(out);
          std::vector<int64_t> idx(static_cast<size_t>(n_out)), idx2(idx);
          k::adaptive_max_pool2d_forward(kCpuContext, g, buf(in), buf(out), buf(idx));
          for (int64_t o = 0; o < n_out; ++o)
            k::adaptive_max_window(in.data() + (o / (oh * ow)) * ih * iw, g, (o / ow) % oh, o % ow,
                                   out2[size_t(o)], idx2[size_t(o)]);
          expect_same_bits(out2, out, "adaptive max forward");
          ASSERT_EQ(idx2, idx);
          auto go = random_values<double>(n_out, rng);
          std::vector<double> scattered(static_cast<size_t>(n_in), 0.0);
          k::adaptive_max_pool2d_backward(kCpuContext, g, buf(go), buf(idx), buf(scattered));
          const auto gathered =
              gather(2, ih, iw, std::vector<double>(static_cast<size_t>(n_in), 0.0),
                     [&](int64_t p, int64_t h, int64_t w) {
                       const int64_t base = p * oh * ow;
                       return k::adaptive_max_grad_at(go.data() + base, idx.data() + base, g, h, w);
                     });
          expect_same_bits(gathered, scattered, "adaptive max backward");
        }
}

TEST(PoolFunctors, AvgPoolDivisorOverrideWindowAndGatherEqualTheCpuKernels) {
  std::mt19937 rng(9);
  for (const PoolGeometry& g : pool_sweep(false))
    for (int64_t divisor : {-3, 1, 5}) {
      SCOPED_TRACE(describe(g) + " divisor " + std::to_string(divisor));
      const int64_t n_in = g.planes * g.in_h * g.in_w, n_out = g.planes * g.out_h * g.out_w;
      auto in = random_values<float>(n_in, rng);
      std::vector<float> out(static_cast<size_t>(n_out)), out2(out);
      k::avg_pool2d_forward(kCpuContext, g, false, divisor, buf(in), buf(out));
      for (int64_t o = 0; o < n_out; ++o) {
        const int64_t p = o / (g.out_h * g.out_w);
        out2[size_t(o)] = k::avg_pool_window(in.data() + p * g.in_h * g.in_w, g,
                                             (o / g.out_w) % g.out_h, o % g.out_w, false, divisor);
      }
      expect_same_bits(out2, out, "avg_pool forward");
      auto go = random_values<float>(n_out, rng);
      std::vector<float> scattered(static_cast<size_t>(n_in), 0.0f);
      k::avg_pool2d_backward(kCpuContext, g, false, divisor, buf(go), buf(scattered));
      const auto gathered = gather(
          g.planes, g.in_h, g.in_w, std::vector<float>(static_cast<size_t>(n_in), 0.0f),
          [&](int64_t p, int64_t h, int64_t w) {
            return k::avg_pool_grad_at(go.data() + p * g.out_h * g.out_w, g, false, h, w, divisor);
          });
      expect_same_bits(gathered, scattered, "avg_pool backward");
    }
}
