// DistributedSampler index lists equal PyTorch's (tests/fixtures/sampler.json from
// make_sampler.py) for world sizes 1-4, with and without shuffle and drop_last.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "kernels/common/error.h"
#include "parallel/distributed_sampler.h"
#include "tests/fixtures_dir.h"

using tandem::parallel::DistributedSampler;

TEST(DistributedSampler, MatchesPyTorch) {
  std::ifstream f(tandem::testing::fixture_path("sampler.json"));
  const auto cases = nlohmann::json::parse(f);
  ASSERT_GT(cases.size(), 100u);
  for (const auto& c : cases) {
    const int world = c["world"];
    for (int rank = 0; rank < world; ++rank) {
      DistributedSampler s(c["n"], world, rank, c["shuffle"], c["seed"], c["drop_last"]);
      s.set_epoch(c["epoch"]);
      EXPECT_EQ(s.indices(), c["indices"][rank].get<std::vector<int64_t>>()) << c.dump();
      EXPECT_EQ(int64_t(s.indices().size()), s.num_samples());
    }
  }
}

TEST(DistributedSampler, InvalidRank) {
  try {
    DistributedSampler s(10, 2, 2);
    FAIL();
  } catch (const tandem::Error& e) {
    EXPECT_STREQ(e.what(), "Invalid rank 2, rank should be in the interval [0, 1]");
  }
}
