// FashionMnistSegmentation: masks of known images equal those numpy computed from the package's
// files (tests/fixtures/make_fashion_mnist_segmentation.py); the image is FashionMnist's. Skipped
// where Debian's dataset-fashion-mnist is not installed.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "framework/data/fashion_mnist_segmentation.h"
#include "tests/error_text.h"
#include "tests/fixtures_dir.h"

using namespace tandem;
using namespace tandem::data;

namespace {
bool have_package() {
  return std::filesystem::exists(std::string(kFashionMnistRoot) + "/train-images-idx3-ubyte.gz");
}
}  // namespace

TEST(FashionMnistSegmentation, MasksMatchAnIndependentComputation) {
  if (!have_package()) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  const nlohmann::json golden = nlohmann::json::parse(
      std::ifstream(tandem::testing::fixture_path("fashion_mnist_segmentation.json")));
  ASSERT_EQ(golden["threshold"].get<float>(), kFashionMnistMaskThreshold);
  FashionMnistSegmentation train(kFashionMnistRoot, "train"), test(kFashionMnistRoot, "test");
  FashionMnist plain(kFashionMnistRoot, "train");
  EXPECT_EQ(train.size(), 60000);
  EXPECT_EQ(test.size(), 10000);
  EXPECT_EQ(train.num_classes(), 11);
  EXPECT_TRUE(train.segmentation());
  int cases = 0;
  Example ex;
  for (const auto& c : golden["cases"]) {
    const int64_t index = c["index"];
    SCOPED_TRACE(c["split"].get<std::string>() + "[" + std::to_string(index) + "]");
    (c["split"] == "train" ? train : test).load(index, ex);
    ASSERT_EQ(ex.mask_height, 28);
    ASSERT_EQ(ex.mask_width, 28);
    ASSERT_EQ(ex.mask.size(), 28u * 28u);
    EXPECT_EQ(ex.label, c["label"].get<int64_t>());
    int64_t foreground = 0;
    for (int64_t r = 0; r < 28; ++r) {
      const std::string row = c["mask_rows"][size_t(r)];
      for (int64_t col = 0; col < 28; ++col) {
        const int64_t want = std::stoi(row.substr(size_t(col), 1), nullptr, 16);
        EXPECT_EQ(ex.mask[size_t(r * 28 + col)], want) << "row " << r << " column " << col;
        foreground += want != 0;
      }
    }
    EXPECT_GT(foreground, 50);  // an item, not an empty mask
    ++cases;
  }
  EXPECT_EQ(cases, 5);
  // The image is FashionMnist's, unchanged.
  Example a, b;
  train.load(1, a);
  plain.load(1, b);
  EXPECT_EQ(a.shape, b.shape);
  EXPECT_EQ(a.image, b.image);
  // A reused Example keeps working when a classification dataset filled it before.
  plain.load(2, ex);
  train.load(2, ex);
  EXPECT_EQ(ex.mask.size(), 784u);
}

TEST(FashionMnistSegmentation, Errors) {
  EXPECT_TRUE(
      tandem::testing::throws_with([] { FashionMnistSegmentation("/nonexistent", "train"); },
                                   "/nonexistent/train-images-idx3-ubyte.gz"));
  if (!have_package()) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  EXPECT_TRUE(tandem::testing::throws_with(
      [] { FashionMnistSegmentation(kFashionMnistRoot, "train", 1.5f); }, "threshold"));
}
