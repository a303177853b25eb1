// The CPU gemm family on bfloat16 and float16 matrices against float64 on the same values:
// oneDNN's bf16 matmul where the processor has bf16 instructions, the float32 fallback elsewhere
// and for float16. Every layout the ops produce: plain, transposed operands, leading dims wider
// than the rows, batches with a broadcast (stride 0) operand, alpha and beta (accumulating into
// c). Each result within half a unit in the last place of its type plus float accumulation.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "kernels/common/convert.h"
#include "kernels/cpu/matmul_onednn.h"
#include "kernels/kernel_table.h"

namespace {

using tandem::kernels::convert_element;
using tandem::kernels::GemmShape;

const tandem::kernels::KernelContext kCpu{tandem::kCPU, nullptr};

struct Layout {
  const char* what;
  GemmShape s;
};

// Buffer sizes (elements) the layout reads and writes.
int64_t a_size(const GemmShape& s) {
  const int64_t rows = s.trans_a ? s.k : s.m;
  return (s.stride_a ? s.stride_a * (s.batch - 1) : 0) + rows * s.lda;
}
int64_t b_size(const GemmShape& s) {
  const int64_t rows = s.trans_b ? s.n : s.k;
  return (s.stride_b ? s.stride_b * (s.batch - 1) : 0) + rows * s.ldb;
}
int64_t c_size(const GemmShape& s) { return s.stride_c * (s.batch - 1) + s.m * s.ldc; }

std::vector<Layout> layouts() {
  auto shape = [](bool ta, bool tb, int64_t m, int64_t n, int64_t k, int64_t batch) {
    GemmShape s;
    s.trans_a = ta;
    s.trans_b = tb;
    s.m = m;
    s.n = n;
    s.k = k;
    s.lda = ta ? m : k;
    s.ldb = tb ? k : n;
    s.ldc = n;
    s.batch = batch;
    s.stride_a = m * k;
    s.stride_b = k * n;
    s.stride_c = m * n;
    return s;
  };
  std::vector<Layout> out = {{"plain", shape(false, false, 13, 17, 33, 1)},
                             {"a transposed", shape(true, false, 13, 17, 33, 1)},
                             {"b transposed (linear)", shape(false, true, 64, 10, 128, 1)},
                             {"both transposed", shape(true, true, 5, 7, 9, 1)},
                             {"batched", shape(false, false, 6, 5, 7, 3)}};
  GemmShape wide = shape(false, false, 4, 5, 6, 1);
  wide.lda = 9;
  wide.ldb = 8;
  wide.ldc = 7;
  out.push_back({"leading dims wider than the rows", wide});
  GemmShape broadcast = shape(false, false, 6, 5, 7, 3);
  broadcast.stride_b = 0;
  out.push_back({"batched, b broadcast", broadcast});
  GemmShape scaled = shape(false, true, 8, 9, 10, 1);
  scaled.alpha = 0.5;
  scaled.beta = 1;
  out.push_back({"alpha 0.5, beta 1 (accumulating)", scaled});
  return out;
}

template <typename H>
void expect_matches_float64(tandem::DType dtype, int mantissa_bits) {
  std::mt19937 rng(17);
  std::uniform_real_distribution<double> uniform(-1, 1);
  auto values = [&](int64_t n) {  // exactly representable in H
    std::vector<double> v(static_cast<size_t>(n));
    for (double& e : v) e = convert_element<H, double>(convert_element<double, H>(uniform(rng)));
    return v;
  };
  auto half = [](const std::vector<double>& v) {
    std::vector<H> h(v.size());
    for (size_t i = 0; i < v.size(); ++i) h[i] = convert_element<double, H>(v[i]);
    return h;
  };
  for (const Layout& l : layouts()) {
    const GemmShape& s = l.s;
    const std::string what =
        std::string(l.what) +
        (dtype == tandem::DType::BFloat16 && tandem::kernels::cpu::onednn_bf16_gemm(s)
             ? " (oneDNN bf16 matmul)"
             : " (float32 fallback)");
    std::printf("  %s\n", what.c_str());  // which implementation this machine ran
    SCOPED_TRACE(what);
    const auto a = values(a_size(s)), b = values(b_size(s)), c0 = values(c_size(s));
    std::vector<double> want = c0;
    for (int64_t i = 0; i < s.batch; ++i)
      for (int64_t r = 0; r < s.m; ++r)
        for (int64_t j = 0; j < s.n; ++j) {
          double acc = 0;
          for (int64_t q = 0; q < s.k; ++q) {
            const double x =
                a[size_t(i * s.stride_a + (s.trans_a ? q * s.lda + r : r * s.lda + q))];
            const double y =
                b[size_t(i * s.stride_b + (s.trans_b ? j * s.ldb + q : q * s.ldb + j))];
            acc += x * y;
          }
          double& out = want[size_t(i * s.stride_c + r * s.ldc + j)];
          out = s.alpha * acc + s.beta * out;
        }
    std::vector<H> ah = half(a), bh = half(b), ch = half(c0);
    tandem::kernels::gemm(kCpu, s, {ah.data(), dtype}, {bh.data(), dtype}, {ch.data(), dtype});
    for (int64_t i = 0; i < s.batch; ++i)
      for (int64_t r = 0; r < s.m; ++r)
        for (int64_t j = 0; j < s.n; ++j) {
          const size_t at = size_t(i * s.stride_c + r * s.ldc + j);
          const double got = convert_element<H, double>(ch[at]);
          ASSERT_NEAR(got, want[at], std::ldexp(std::abs(want[at]), -mantissa_bits) + 1e-5 * s.k)
              << "batch " << i << " row " << r << " column " << j;
        }
  }
}

}  // namespace

TEST(GemmCpu, Bfloat16MatchesFloat64) {
  expect_matches_float64<tandem::kernels::BFloat16>(tandem::DType::BFloat16, 8);
}

TEST(GemmCpu, Float16MatchesFloat64) {
  expect_matches_float64<tandem::kernels::Half>(tandem::DType::Float16, 11);
}
