// Segmentation metrics under DDP: evaluation on 2-4 ranks (each taking examples r, r + R, ...)
// sums the confusion matrix over ranks, so pixel accuracy and every IoU and Dice equal a single
// process's exactly, and the loss to rounding; ignored pixels count nowhere.
#include <cmath>

#include "framework/nn/nn.h"
#include "launch/evaluate.h"
#include "tests/mpi/mpi_main.h"

using namespace tandem;

namespace {

const parallel::World& world() { return parallel::init_distributed(); }

// 23 examples (no rank count divides it), 1 x 5 x 7 images; the masks use 3 classes and mark a
// few pixels 255 (ignored). The image carries the mask as a signal, so a model's predictions
// are neither all right nor all wrong.
class TinySegmentation : public data::Dataset {
 public:
  int64_t size() const override { return 23; }
  int64_t num_classes() const override { return 3; }
  std::string name() const override { return "tiny_segmentation"; }
  bool segmentation() const override { return true; }
  void load(int64_t index, data::Example& ex) const override {
    Generator gen(uint64_t(index) + 11);
    ex.shape = {1, 5, 7};
    ex.image.resize(35);
    ex.mask_height = 5, ex.mask_width = 7;
    ex.mask.resize(35);
    for (int64_t p = 0; p < 35; ++p) {
      const int64_t cls = (p / 7 + index) % 3;
      ex.mask[size_t(p)] = (p + index) % 9 == 0 ? 255 : cls;
      ex.image[size_t(p)] = float(cls) * 0.4f + 0.5f * gen.uniform_float();
    }
  }
};

TEST(SegmentationOverRanks, MetricsEqualOneProcesssExactly) {
  Generator gen(5);
  auto model = std::make_shared<nn::Conv2d>(nn::Conv2dOptions(1, 3, 3).with_padding(1), gen);
  auto dataset = std::make_shared<TinySegmentation>();
  data::LoaderOptions opts;
  opts.batch_size = 4;
  data::DataLoader ranked(dataset, opts), alone(dataset, opts);
  const launch::EvalResult over_ranks = launch::evaluate(
      *model, ranked, kCPU, world().process_group.get(), world().rank, world().size, 255);
  const launch::EvalResult one = launch::evaluate(*model, alone, kCPU, nullptr, 0, 1, 255);
  ASSERT_TRUE(over_ranks.segmentation && one.segmentation);
  EXPECT_EQ(over_ranks.accuracy, one.accuracy);
  EXPECT_EQ(over_ranks.mean_iou, one.mean_iou);
  EXPECT_EQ(over_ranks.mean_dice, one.mean_dice);
  EXPECT_EQ(over_ranks.class_iou, one.class_iou);
  EXPECT_EQ(over_ranks.class_dice, one.class_dice);
  // The loss sums each batch's pixels in float32 before the float64 total, and ranks batch other
  // examples together than one process does: equal to float32 rounding, not bit for bit.
  EXPECT_NEAR(over_ranks.loss, one.loss, 1e-6 * one.loss);
  EXPECT_EQ(over_ranks.samples, 23);
  // Neither trivial nor perfect, and within range.
  EXPECT_GT(one.mean_iou, 0.0);
  EXPECT_LT(one.mean_iou, 1.0);
  EXPECT_EQ(one.class_iou.size(), 3u);
}

}  // namespace

TANDEM_MPI_TEST_MAIN()
