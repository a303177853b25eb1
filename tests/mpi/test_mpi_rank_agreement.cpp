// Ranks that must agree (launch/rank_agreement.h) on 2-4 ranks: identical entries pass, in any
// order; a value that differs on one rank, or a key only one rank has, is one AllRanksError on
// every rank naming the key and which ranks hold which value; the gather helpers carry strings
// and vectors of different lengths (empty ones too).
#include "framework/tensor/factories.h"
#include "launch/rank_agreement.h"
#include "parallel/rank_helpers.h"
#include "tests/error_text.h"
#include "tests/mpi/mpi_main.h"

using namespace tandem;
using namespace tandem::parallel;

namespace {

const World& world() { return init_distributed(); }
ProcessGroup* pg() { return world().process_group.get(); }

TEST(RankAgreement, GatherStringsAndVectorsOfDifferentLengths) {
  const int r = world().rank, n = world().size;
  const auto strings = allgather_strings(*pg(), std::string(size_t(r), char('a' + r)));
  const auto vectors = allgather_vectors(*pg(), std::vector<int64_t>(size_t(r), int64_t(r) << 40));
  ASSERT_EQ(int(strings.size()), n);
  ASSERT_EQ(int(vectors.size()), n);
  for (int k = 0; k < n; ++k) {
    EXPECT_EQ(strings[size_t(k)], std::string(size_t(k), char('a' + k)));
    EXPECT_EQ(vectors[size_t(k)], std::vector<int64_t>(size_t(k), int64_t(k) << 40));
  }
}

TEST(RankAgreement, SameEntriesPass) {
  EXPECT_NO_THROW(launch::require_same_on_all_ranks(
      pg(), "run config", {{"seed", "0"}, {"optimizer.lr", "0.1"}}, "hint"));
}

TEST(RankAgreement, OrderOfEntriesDoesNotMatter) {
  // A mapping's keys come in the order of the file or of --set: the same values still agree.
  std::vector<std::pair<std::string, std::string>> entries = {{"optimizer.lr", "0.1"},
                                                              {"optimizer.momentum", "0.9"}};
  if (world().rank == world().size - 1) std::swap(entries[0], entries[1]);
  EXPECT_NO_THROW(launch::require_same_on_all_ranks(pg(), "run config", entries, "hint"));
}

TEST(RankAgreement, OneDifferingRankIsNamedWithTheKeyOnEveryRank) {
  const int r = world().rank, last = world().size - 1;
  std::vector<std::pair<std::string, std::string>> entries = {
      {"seed", "0"}, {"data.batch_size", r == last ? "32" : "16"}, {"optimizer.lr", "0.1"}};
  if (r == last) entries.emplace_back("optimizer.momentum", "0.9");
  try {
    launch::require_same_on_all_ranks(pg(), "run config", entries, "same config everywhere");
    FAIL() << "expected a disagreement";
  } catch (const AllRanksError& e) {
    const std::string what = e.what();
    std::string others = last == 1 ? "rank 0" : "ranks 0";
    for (int k = 1; k < last; ++k) others += ", " + std::to_string(k);
    const std::string last_rank = "rank " + std::to_string(last);
    EXPECT_NE(what.find("the ranks disagree on the run config (2 keys):"), std::string::npos)
        << what;
    EXPECT_NE(what.find("\n  data.batch_size: 16 (" + others + "), 32 (" + last_rank + ")"),
              std::string::npos)
        << what;
    EXPECT_NE(
        what.find("\n  optimizer.momentum: <not set> (" + others + "), 0.9 (" + last_rank + ")"),
        std::string::npos)
        << what;
    EXPECT_EQ(what.find("seed"), std::string::npos) << what;
    EXPECT_EQ(e.hint(), "same config everywhere");
  }
}

TEST(RankAgreement, StateDigestFollowsTheBytes) {
  OrderedDict<std::string, Tensor> a, b;
  a.insert("w", from_vector(std::vector<double>{1, 2, 3}, {3}));
  b.insert("w", from_vector(std::vector<double>{1, 2, 3.5}, {3}));
  EXPECT_EQ(launch::state_digest(a), launch::state_digest(a));
  EXPECT_NE(launch::state_digest(a), launch::state_digest(b));
  EXPECT_EQ(launch::state_digest(a).size(), 16u);
}

}  // namespace

TANDEM_MPI_TEST_MAIN()
