// ConfusionMatrix against a matrix computed by hand: counts (ignore_index skipped, including the
// prediction on an ignored pixel), pixel accuracy, per-class IoU and Dice with an absent class
// (NaN, left out of the means), merging halves, summing counts() as ranks would, and errors.
#include <gtest/gtest.h>

#include <cmath>

#include "framework/metrics/confusion_matrix.h"
#include "framework/tensor/factories.h"
#include "tests/error_text.h"

using namespace tandem;
using tandem::metrics::ConfusionMatrix;
using tandem::testing::throws_with;

namespace {

// Four classes, ignore_index 255. (target, prediction) pairs:
//   (0,0) (0,0) (0,1) (1,1) (1,0) (1,1) (2,2) (255,3) (0,2) (2,1)
// The pair with target 255 is skipped, prediction 3 with it: class 3 never occurs.
const std::vector<int64_t> kTargets = {0, 0, 0, 1, 1, 1, 2, 255, 0, 2};
const std::vector<int64_t> kPredictions = {0, 0, 1, 1, 0, 1, 2, 3, 2, 1};

// Rows are targets, columns predictions:
//            p0 p1 p2 p3 | row sum (tp + fn)
//   t0        2  1  1  0 | 4
//   t1        1  2  0  0 | 3
//   t2        0  1  1  0 | 2
//   t3        0  0  0  0 | 0
//   col sum   3  4  2  0 | total 9     (col sum = tp + fp)
const std::vector<double> kCounts = {2, 1, 1, 0, 1, 2, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0};

void expect_metrics(const ConfusionMatrix& cm) {
  EXPECT_EQ(cm.counts(), kCounts);
  EXPECT_EQ(cm.total(), 9);
  // Pixel accuracy: trace / total = (2 + 2 + 1) / 9.
  EXPECT_DOUBLE_EQ(cm.pixel_accuracy(), 5.0 / 9.0);
  // IoU = tp / (row + col - tp): class 0: 2 / (4 + 3 - 2) = 2/5; class 1: 2 / (3 + 4 - 2) = 2/5;
  // class 2: 1 / (2 + 2 - 1) = 1/3; class 3: 0 / 0 -> NaN.
  const std::vector<double> iou = cm.iou();
  ASSERT_EQ(iou.size(), 4u);
  EXPECT_DOUBLE_EQ(iou[0], 2.0 / 5.0);
  EXPECT_DOUBLE_EQ(iou[1], 2.0 / 5.0);
  EXPECT_DOUBLE_EQ(iou[2], 1.0 / 3.0);
  EXPECT_TRUE(std::isnan(iou[3]));
  // mIoU over classes 0..2: (2/5 + 2/5 + 1/3) / 3 = (17/15) / 3 = 17/45.
  EXPECT_DOUBLE_EQ(cm.mean_iou(), 17.0 / 45.0);
  // Dice = 2 tp / (row + col): class 0: 4 / 7; class 1: 4 / 7; class 2: 2 / 4; class 3: NaN.
  const std::vector<double> dice = cm.dice();
  EXPECT_DOUBLE_EQ(dice[0], 4.0 / 7.0);
  EXPECT_DOUBLE_EQ(dice[1], 4.0 / 7.0);
  EXPECT_DOUBLE_EQ(dice[2], 0.5);
  EXPECT_TRUE(std::isnan(dice[3]));
  // mean Dice: (4/7 + 4/7 + 1/2) / 3 = (23/14) / 3 = 23/42.
  EXPECT_DOUBLE_EQ(cm.mean_dice(), 23.0 / 42.0);
}

}  // namespace

TEST(ConfusionMatrix, HandComputedMatrixAndMetrics) {
  ConfusionMatrix cm(4, 255);
  cm.add(kPredictions.data(), kTargets.data(), int64_t(kTargets.size()));
  expect_metrics(cm);
  EXPECT_EQ(cm.count(0, 1), 1);
  EXPECT_EQ(cm.count(1, 0), 1);
  EXPECT_EQ(cm.count(2, 1), 1);
}

TEST(ConfusionMatrix, TensorsOfAnyLayout) {
  // The pairs as (2, 5) tensors, passed transposed twice (a non-contiguous view of the same order).
  Tensor t = from_vector(kTargets, {5, 2}).t();
  Tensor p = from_vector(kPredictions, {5, 2}).t();
  ConfusionMatrix cm(4, 255);
  cm.add(p.t(), t.t());
  expect_metrics(cm);
}

// Merging the two halves, or summing their counts() as an all-reduce would, gives the whole.
TEST(ConfusionMatrix, HalvesMergeToTheWhole) {
  ConfusionMatrix a(4, 255), b(4, 255);
  a.add(kPredictions.data(), kTargets.data(), 5);
  b.add(kPredictions.data() + 5, kTargets.data() + 5, 5);
  ConfusionMatrix merged = a;
  merged.merge(b);
  expect_metrics(merged);

  std::vector<double> sum = a.counts();
  const std::vector<double> cb = b.counts();
  for (size_t i = 0; i < sum.size(); ++i) sum[i] += cb[i];
  ConfusionMatrix reduced(4, 255);
  reduced.set_counts(sum);
  expect_metrics(reduced);
}

// A class that is predicted but never a target has IoU 0 (not NaN) and counts in the mean.
TEST(ConfusionMatrix, FalsePositiveOnlyClassCountsAsZero) {
  ConfusionMatrix cm(2, -100);
  const std::vector<int64_t> t = {0, 0, -100}, p = {0, 1, 1};
  cm.add(p.data(), t.data(), 3);
  // class 0: tp 1, fn 1 -> 1/2; class 1: tp 0, fp 1 -> 0/1. Mean 1/4.
  EXPECT_DOUBLE_EQ(cm.iou()[0], 0.5);
  EXPECT_DOUBLE_EQ(cm.iou()[1], 0.0);
  EXPECT_DOUBLE_EQ(cm.mean_iou(), 0.25);
  EXPECT_DOUBLE_EQ(cm.pixel_accuracy(), 0.5);
  cm.reset();
  EXPECT_TRUE(std::isnan(cm.pixel_accuracy()));
  EXPECT_TRUE(std::isnan(cm.mean_iou()));
}

TEST(ConfusionMatrix, Errors) {
  ConfusionMatrix cm(4, 255);
  const std::vector<int64_t> ok = {0, 1}, bad_target = {0, 4}, bad_prediction = {-1, 0};
  cm.add(ok.data(), ok.data(), 2);
  EXPECT_TRUE(
      throws_with([&] { cm.add(ok.data(), bad_target.data(), 2); },
                  "target 4 at element 1 is outside [0, 4) and is not the ignore_index 255"));
  EXPECT_TRUE(throws_with([&] { cm.add(bad_prediction.data(), ok.data(), 2); },
                          "prediction -1 at element 0 is outside [0, 4)"));
  EXPECT_EQ(cm.total(), 2);  // failed calls counted nothing
  EXPECT_TRUE(throws_with(
      [&] {
        cm.add(zeros({2}, TensorOptions(DType::Int64)), zeros({3}, TensorOptions(DType::Int64)));
      },
      "differ in shape"));
  EXPECT_TRUE(throws_with([&] { cm.add(zeros({2}), zeros({2})); }, "CPU int64"));
  EXPECT_TRUE(throws_with([&] { cm.merge(ConfusionMatrix(3)); }, "3 classes into 4"));
  EXPECT_TRUE(throws_with([&] { cm.set_counts({1, 2}); }, "2 counts for 4 classes"));
  EXPECT_TRUE(throws_with([&] { cm.set_counts(std::vector<double>(16, 0.5)); }, "is not a count"));
  EXPECT_TRUE(throws_with([] { ConfusionMatrix(0); }, "num_classes must be in [1, 4096]"));
}
