// ProcessGroupMPI collectives on 2-4 ranks: values and dtypes, odd and zero sizes, many
// concurrent async handles, broadcast, allgather, barrier; the rank-aware metric helpers.
#include "framework/ops/ops.h"
#include "parallel/distributed.h"
#include "parallel/rank_helpers.h"
#include "tests/mpi/mpi_main.h"

using namespace tandem;
using namespace tandem::parallel;

namespace {
const World& world() { return init_distributed(); }
ProcessGroup& pg() { return *world().process_group; }
}  // namespace

TEST(Collectives, AllreduceSumAverageMaxAcrossDtypes) {
  ASSERT_TRUE(world().process_group) << "run under mpirun";
  const int r = world().rank, n = world().size;
  for (int64_t len : {1, 7, 1001}) {
    for (DType dt : {DType::Float32, DType::Float64, DType::Int64, DType::Int32}) {
      Tensor t = full({len}, double(r + 1), TensorOptions(dt));
      pg().allreduce(t, ReduceOp::Sum)->wait();
      EXPECT_EQ(t.to_vector(), std::vector<double>(size_t(len), n * (n + 1) / 2.0))
          << dtype_name(dt);
      Tensor m = full({len}, double(r), TensorOptions(dt));
      pg().allreduce(m, ReduceOp::Max)->wait();
      EXPECT_EQ(m.to_vector(), std::vector<double>(size_t(len), n - 1)) << dtype_name(dt);
    }
    Tensor a = full({len}, double(r), TensorOptions(DType::Float64));
    pg().allreduce(a, ReduceOp::Average)->wait();
    EXPECT_EQ(a.to_vector(), std::vector<double>(size_t(len), (n - 1) / 2.0));
  }
  Tensor empty_t = zeros({0});
  pg().allreduce(empty_t, ReduceOp::Sum)->wait();
  EXPECT_EQ(empty_t.numel(), 0);
}

TEST(Collectives, ManyConcurrentHandles) {
  const int n = world().size;
  std::vector<Tensor> ts;
  std::vector<std::shared_ptr<Work>> works;
  for (int i = 0; i < 64; ++i) {
    ts.push_back(full({int64_t(i % 5 + 1)}, double(i)));
    works.push_back(pg().allreduce(ts.back(), ReduceOp::Sum));
  }
  for (int i = 63; i >= 0; --i) works[size_t(i)]->wait();  // any wait order
  for (int i = 0; i < 64; ++i) {
    EXPECT_TRUE(works[size_t(i)]->is_completed());
    EXPECT_EQ(ts[size_t(i)].to_vector()[0], double(i * n));
  }
}

TEST(Collectives, BroadcastAllgatherBarrier) {
  const int r = world().rank, n = world().size;
  Tensor b = full({3, 2}, double(r == 1 ? 42 : r));
  pg().broadcast(b, 1)->wait();
  EXPECT_EQ(b.to_vector(), std::vector<double>(6, 42));
  std::vector<Tensor> out;
  for (int i = 0; i < n; ++i) out.push_back(zeros({2}, TensorOptions(DType::Int64)));
  pg().allgather(out, from_vector(std::vector<int64_t>{r, r * 10}, {2}))->wait();
  for (int i = 0; i < n; ++i)
    EXPECT_EQ(out[size_t(i)].to_vector(), (std::vector<double>{double(i), double(i * 10)}));
  pg().barrier()->wait();
  Tensor bad = zeros({2});
  EXPECT_THROW(pg().broadcast(bad, n + 3), Error);
}

TEST(RankHelpers, MetricsReduceOverRanksAndRankZeroPrints) {
  const int r = world().rank, n = world().size;
  const auto sums = sum_over_ranks(&pg(), {double(r), 1.0, 0.5});
  EXPECT_EQ(sums, (std::vector<double>{n * (n - 1) / 2.0, double(n), 0.5 * n}));
  EXPECT_EQ(mean_over_ranks(&pg(), {double(r)}), std::vector<double>{(n - 1) / 2.0});
  EXPECT_EQ(sum_over_ranks(nullptr, {3.0}), std::vector<double>{3.0});  // no group: unchanged
  EXPECT_TRUE(sum_over_ranks(&pg(), {}).empty());
  testing::internal::CaptureStdout();
  const int printed = print_rank0("rank-zero line %d\n", 7);
  const std::string out = testing::internal::GetCapturedStdout();
  EXPECT_EQ(out, r == 0 ? "rank-zero line 7\n" : "");
  EXPECT_EQ(printed, int(out.size()));
}

TANDEM_MPI_TEST_MAIN()
