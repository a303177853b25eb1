// Test-split evaluation (see evaluate.h).
#include "launch/evaluate.h"

#include <cmath>

#include "framework/autograd/grad_mode.h"
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
  double loss_sum = 0, correct = 0, count = 0;
  data::Batch b;
  while (loader.next(b)) {
    const Tensor inputs = b.inputs.to(device), targets = b.targets.to(device);
    Tensor out = forward_batch(model, inputs);
    loss_sum += cross_entropy(out, targets, {}, Reduction::Sum).item();
    correct += sum(eq(argmax(out, 1), targets)).item();
    count += double(b.targets.numel());
  }
  const auto v = parallel::sum_over_ranks(pg, {loss_sum, correct, count});
  EvalResult r;
  r.samples = int64_t(v[2]);
  r.loss = v[2] > 0 ? v[0] / v[2] : NAN;
  r.accuracy = v[2] > 0 ? v[1] / v[2] : NAN;
  return r;
}

}  // namespace tandem::launch
