// Test-split evaluation (see evaluate.h).
#include "launch/evaluate.h"

#include <cmath>

#include "framework/autograd/grad_mode.h"
#include "framework/data/device_prefetcher.h"
#include "framework/ops/ops.h"
#include "launch/training_setup.h"
#include "parallel/rank_helpers.h"

namespace tandem::launch {

EvalResult evaluate(nn::Module& model, data::DataLoader& loader, Device device,
                    parallel::ProcessGroup* pg, int rank, int world) {
  NoGradGuard no_grad;
  model.eval();
  std::vector<int64_t> idx;
  for (int64_t i = rank; i < loader.dataset().size(); i += world) idx.push_back(i);
  loader.start_epoch(idx, 0);
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
