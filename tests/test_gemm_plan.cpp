// The row-major -> column-major GEMM mapping the CUDA GEMM uses (kernels/common/gemm_plan.h),
// checked on the CPU: a naive column-major product run with the plan on the swapped operands
// must equal a naive row-major product of the original problem, for transposes, padded leading
// dimensions and strided or broadcast (stride 0) batches.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "kernels/common/gemm_plan.h"

using tandem::kernels::ColumnMajorGemm;
using tandem::kernels::GemmShape;

namespace {

// c[i] = alpha * op(a[i]) @ op(b[i]) + beta * c[i], row-major.
void row_major(const GemmShape& s, const std::vector<double>& a, const std::vector<double>& b,
               std::vector<double>& c) {
  for (int64_t i = 0; i < s.batch; ++i)
    for (int64_t r = 0; r < s.m; ++r)
      for (int64_t col = 0; col < s.n; ++col) {
        double acc = 0;
        for (int64_t t = 0; t < s.k; ++t) {
          const double x = s.trans_a ? a[size_t(i * s.stride_a + t * s.lda + r)]
                                     : a[size_t(i * s.stride_a + r * s.lda + t)];
          const double y = s.trans_b ? b[size_t(i * s.stride_b + col * s.ldb + t)]
                                     : b[size_t(i * s.stride_b + t * s.ldb + col)];
          acc += x * y;
        }
        double& out = c[size_t(i * s.stride_c + r * s.ldc + col)];
        out = s.alpha * acc + s.beta * out;
      }
}

// The same contract, column-major (element (r, c) of a matrix at r + c * ld), as cuBLAS.
void column_major(const ColumnMajorGemm& p, double alpha, double beta, const std::vector<double>& a,
                  const std::vector<double>& b, std::vector<double>& c) {
  for (int64_t i = 0; i < p.batch; ++i)
    for (int64_t r = 0; r < p.m; ++r)
      for (int64_t col = 0; col < p.n; ++col) {
        double acc = 0;
        for (int64_t t = 0; t < p.k; ++t) {
          const double x = p.trans_a ? a[size_t(i * p.stride_a + r * p.lda + t)]
                                     : a[size_t(i * p.stride_a + t * p.lda + r)];
          const double y = p.trans_b ? b[size_t(i * p.stride_b + t * p.ldb + col)]
                                     : b[size_t(i * p.stride_b + col * p.ldb + t)];
          acc += x * y;
        }
        double& out = c[size_t(i * p.stride_c + col * p.ldc + r)];
        out = alpha * acc + beta * out;
      }
}

std::vector<double> random_values(size_t n, std::mt19937& rng) {
  std::uniform_real_distribution<double> d(-1, 1);
  std::vector<double> v(n);
  for (double& x : v) x = d(rng);
  return v;
}

// A 5x4x3 problem with the given transposes, padding of each leading dimension, batch count,
// broadcast b (batch stride 0) and gap between batches; b_size is the elements b spans.
struct TestProblem {
  GemmShape s;
  int64_t b_size;
};

TestProblem test_problem(bool ta, bool tb, int64_t pad, int64_t batch, bool broadcast_b,
                         int64_t batch_gap, double beta) {
  GemmShape s;
  s.trans_a = ta;
  s.trans_b = tb;
  s.m = 5;
  s.n = 4;
  s.k = 3;
  // Stored shapes: a is (m, k) or (k, m) when transposed; b is (k, n) or (n, k).
  const int64_t a_rows = ta ? s.k : s.m, a_cols = ta ? s.m : s.k;
  const int64_t b_rows = tb ? s.n : s.k, b_cols = tb ? s.k : s.n;
  s.lda = a_cols + pad;
  s.ldb = b_cols + pad;
  s.ldc = s.n + pad;
  s.stride_a = a_rows * s.lda + batch_gap;
  s.stride_b = broadcast_b ? 0 : b_rows * s.ldb + batch_gap;
  s.stride_c = s.m * s.ldc + batch_gap;
  s.batch = batch;
  s.alpha = 1.5;
  s.beta = beta;
  return {s, (b_rows * s.ldb + batch_gap) * batch};
}

}  // namespace

TEST(GemmPlan, ColumnMajorPlanComputesTheRowMajorProduct) {
  std::mt19937 rng(7);
  int cases = 0;
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (int64_t pad : {0, 3})
        for (int64_t batch : {1, 3})
          for (bool broadcast_b : {false, true})
            for (double beta : {0.0, 0.5}) {
              const auto [s, b_size] = test_problem(ta, tb, pad, batch, broadcast_b, 0, beta);
              const auto a = random_values(size_t(s.stride_a * batch), rng);
              const auto b = random_values(size_t(b_size), rng);
              auto c0 = random_values(size_t(s.stride_c * batch), rng);
              auto c1 = c0;
              row_major(s, a, b, c0);
              ColumnMajorGemm p = tandem::kernels::column_major_gemm(s);
              ASSERT_TRUE(tandem::kernels::normalize_leading_dims(p));
              EXPECT_EQ(p.m, s.n);
              EXPECT_EQ(p.n, s.m);
              column_major(p, s.alpha, s.beta, b, a, c1);  // operands swapped
              for (size_t i = 0; i < c0.size(); ++i)
                ASSERT_NEAR(c0[i], c1[i], 1e-12) << "ta=" << ta << " tb=" << tb << " pad=" << pad
                                                 << " batch=" << batch << " i=" << i;
              ++cases;
            }
  EXPECT_EQ(cases, 64);
}

TEST(GemmPlan, StoredShapesAreWhatCublasLtLayoutsTake) {
  GemmShape s;
  s.trans_a = true;  // a stored (k, m) row-major
  s.m = 6;
  s.n = 2;
  s.k = 9;
  s.lda = 6;
  s.ldb = 2;
  s.ldc = 2;
  const ColumnMajorGemm p = tandem::kernels::column_major_gemm(s);
  // Column-major a is the row-major b (k, n) read transposed: n rows, k columns, ld = ldb.
  EXPECT_EQ(p.a_rows, 2);
  EXPECT_EQ(p.a_cols, 9);
  EXPECT_EQ(p.lda, 2);
  // Column-major b is the row-major a (k, m) read column-major: m rows, k columns, op = T.
  EXPECT_TRUE(p.trans_b);
  EXPECT_EQ(p.b_rows, 6);
  EXPECT_EQ(p.b_cols, 9);
}

TEST(GemmPlan, OneColumnOperandsGetAUsableLeadingDimension) {
  GemmShape s;  // (5, 1) @ (1, 4): row-major a has ld 1 and one column
  s.m = 5;
  s.n = 4;
  s.k = 1;
  s.lda = 1;
  s.ldb = 4;
  s.ldc = 4;
  ColumnMajorGemm p = tandem::kernels::column_major_gemm(s);
  EXPECT_TRUE(tandem::kernels::normalize_leading_dims(p));
  EXPECT_GE(p.ldb, p.b_rows);
  // A matrix of several columns whose ld is below its row count cannot be expressed.
  ColumnMajorGemm bad = p;
  bad.ldc = 1;
  EXPECT_FALSE(tandem::kernels::normalize_leading_dims(bad));
}

namespace {

// What cudaMemcpy2DAsync does with one MatrixCopy, bounds-checked.
void run_copies(const std::vector<tandem::kernels::MatrixCopy>& copies,
                const std::vector<double>& src, std::vector<double>& dst) {
  for (const auto& c : copies)
    for (int64_t col = 0; col < c.height; ++col)
      for (int64_t r = 0; r < c.width; ++r)
        dst.at(size_t(c.dst_offset + col * c.dst_ld + r)) =
            src.at(size_t(c.src_offset + col * c.src_ld + r));
}

}  // namespace

TEST(GemmPlan, PackedCopiesComputeTheSameProduct) {
  using tandem::kernels::pack_copies;
  using tandem::kernels::reversed;
  std::mt19937 rng(11);
  int cases = 0;
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (int64_t pad : {0, 3})
        for (int64_t batch : {1, 3})
          for (bool broadcast_b : {false, true})
            for (int64_t batch_gap : {0, 5})  // batches one after another, or apart
              for (size_t element : {size_t(2), size_t(4), size_t(8)}) {
                const auto [s, b_size] =
                    test_problem(ta, tb, pad, batch, broadcast_b, batch_gap, 0.5);
                const auto a = random_values(size_t(s.stride_a * batch), rng);
                const auto b = random_values(size_t(b_size), rng);
                auto expected = random_values(size_t(s.stride_c * batch), rng);
                auto c = expected;
                row_major(s, a, b, expected);

                ColumnMajorGemm p = tandem::kernels::column_major_gemm(s);
                ASSERT_TRUE(tandem::kernels::normalize_leading_dims(p));
                const auto packed = tandem::kernels::packed_gemm(p, element);
                const ColumnMajorGemm& q = packed.gemm;
                for (int64_t ld : {q.lda, q.ldb, q.ldc}) EXPECT_EQ(ld * int64_t(element) % 16, 0);
                std::vector<double> pa(size_t(packed.a.elements)), pb(size_t(packed.b.elements));
                std::vector<double> pc(size_t(packed.c.elements));
                run_copies(pack_copies(p.a_rows, p.a_cols, p.lda, p.stride_a, p.batch, packed.a), b,
                           pa);  // column-major a is the row-major b
                run_copies(pack_copies(p.b_rows, p.b_cols, p.ldb, p.stride_b, p.batch, packed.b), a,
                           pb);
                const auto c_copies = pack_copies(p.m, p.n, p.ldc, p.stride_c, p.batch, packed.c);
                run_copies(c_copies, c, pc);
                column_major(q, s.alpha, s.beta, pa, pb, pc);
                std::vector<tandem::kernels::MatrixCopy> back;
                for (const auto& copy : c_copies) back.push_back(reversed(copy));
                run_copies(back, pc, c);
                for (size_t i = 0; i < c.size(); ++i)
                  ASSERT_NEAR(expected[i], c[i], 1e-12)
                      << "ta=" << ta << " tb=" << tb << " pad=" << pad << " batch=" << batch
                      << " gap=" << batch_gap << " element=" << element << " i=" << i;
                ++cases;
              }
  EXPECT_EQ(cases, 192);
}

TEST(GemmPlan, ContiguousBatchesPackInOneCopy) {
  const auto l = tandem::kernels::packed_layout(3, 4, 12, 5, 2);  // float16: ld 3 -> 8
  EXPECT_EQ(l.ld, 8);
  EXPECT_EQ(l.stride, 32);
  EXPECT_EQ(l.elements, 160);
  EXPECT_EQ(tandem::kernels::pack_copies(3, 4, 3, 12, 5, l).size(), 1u);
  EXPECT_EQ(tandem::kernels::pack_copies(3, 4, 3, 13, 5, l).size(), 5u);
  const auto broadcast = tandem::kernels::packed_layout(3, 4, 0, 5, 2);
  EXPECT_EQ(broadcast.stride, 0);
  EXPECT_EQ(broadcast.elements, 32);
  EXPECT_EQ(tandem::kernels::pack_copies(3, 4, 3, 0, 5, broadcast).size(), 1u);
}
