// Test-split evaluation (see evaluate.h).
#include "launch/evaluate.h"

#include <cmath>

#include "framework/autograd/grad_mode.h"
#include "framework/data/device_prefetcher.h"
#include "framework/metrics/confusion_matrix.h"
#include "framework/ops/ops.h"
#include "framework/tensor/factories.h"
#include "launch/training_setup.h"
#include "parallel/rank_helpers.h"

namespace tandem::launch {
namespace {

std::vector<int64_t> rank_indices(const data::Dataset& dataset, int rank, int world) {
  std::vector<int64_t> idx;
  for (int64_t i = rank; i < dataset.size(); i += world) idx.push_back(i);
  return idx;
}

// Segmentation: per-pixel loss over the labelled pixels, and a confusion matrix of (target,
// predicted class) counted on the host from each batch's argmax, summed over ranks at the end.
EvalResult evaluate_segmentation(nn::Module& model, data::DataLoader& loader, Device device,
                                 parallel::ProcessGroup* pg, int rank, int world,
                                 int64_t ignore_index) {
  NoGradGuard no_grad;
  model.eval();
  loader.start_epoch(rank_indices(loader.dataset(), rank, world), 0);
  const int64_t classes = loader.dataset().num_classes();
  metrics::ConfusionMatrix confusion(classes, ignore_index);
  Tensor loss_sum = zeros({}, TensorOptions(DType::Float64, device));
  data::Batch b;
  data::DevicePrefetcher batches(loader, device);
  while (batches.next(b)) {
    Tensor out = forward_batch(model, b.inputs);
    TANDEM_CHECK(out.dim() == 4 && out.size(1) == classes, "segmentation: the model gives ",
                 shape_str(out.sizes()), " for a batch of ", shape_str(b.inputs.sizes()),
                 " but (N, ", classes, ", H, W) logits are needed for ", classes, " classes");
    loss_sum.add_(
        cross_entropy(out, b.targets, {}, Reduction::Sum, ignore_index).to(DType::Float64));
    confusion.add(argmax(out, 1).cpu(), b.targets.cpu());
  }
  // The labelled pixels are the confusion matrix's total (it skips ignore_index too).
  std::vector<double> totals = confusion.counts();
  totals.push_back(loss_sum.item());
  totals = parallel::sum_over_ranks(pg, totals);
  const double loss = totals.back();
  totals.pop_back();
  confusion.set_counts(totals);
  const double pixels = double(confusion.total());
  EvalResult r;
  r.segmentation = true;
  r.samples = int64_t(loader.dataset().size());
  r.loss = pixels > 0 ? loss / pixels : NAN;
  r.accuracy = confusion.pixel_accuracy();
  r.mean_iou = confusion.mean_iou();
  r.mean_dice = confusion.mean_dice();
  r.class_iou = confusion.iou();
  r.class_dice = confusion.dice();
  return r;
}

}  // namespace

double EvalResult::metric(const std::string& monitor) const {
  if (monitor == "accuracy") return accuracy;
  if (monitor == "loss") return loss;
  if (monitor == "iou") return mean_iou;
  if (monitor == "dice") return mean_dice;
  throw Error("unknown metric '" + monitor + "'",
              "checkpoint.monitor: accuracy, loss, iou or dice");
}

EvalResult evaluate(nn::Module& model, data::DataLoader& loader, Device device,
                    parallel::ProcessGroup* pg, int rank, int world, int64_t ignore_index) {
  if (loader.dataset().segmentation())
    return evaluate_segmentation(model, loader, device, pg, rank, world, ignore_index);
  NoGradGuard no_grad;
  model.eval();
  loader.start_epoch(rank_indices(loader.dataset(), rank, world), 0);
  // The sums stay where the model runs until the end (no host sync per batch); the loss adds in
  // float64 as the host did, the counts in int64, so the result is the same on every device.
  Tensor loss_sum = zeros({}, TensorOptions(DType::Float64, device));
  Tensor correct = zeros({}, TensorOptions(DType::Int64, device));
  double count = 0;
  data::Batch b;
  data::DevicePrefetcher batches(loader, device);
  while (batches.next(b)) {
    Tensor out = forward_batch(model, b.inputs);
    loss_sum.add_(cross_entropy(out, b.targets, {}, Reduction::Sum).to(DType::Float64));
    correct.add_(sum(eq(argmax(out, 1), b.targets)));
    count += double(b.targets.numel());
  }
  const auto v = parallel::sum_over_ranks(pg, {loss_sum.item(), correct.item(), count});
  EvalResult r;
  r.samples = int64_t(v[2]);
  r.loss = v[2] > 0 ? v[0] / v[2] : NAN;
  r.accuracy = v[2] > 0 ? v[1] / v[2] : NAN;
  return r;
}

}  // namespace tandem::launch
