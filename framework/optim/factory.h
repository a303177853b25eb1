// Optimizers and schedulers from a config section (the YAML `optimizer:` / `scheduler:`), with
// PyTorch's class names in lower case and PyTorch's argument names:
//   {name: sgd, lr: 0.05, momentum: 0.9, nesterov: true}
//   {name: cosineannealinglr, T_max: 10, interval: epoch, warmup_epochs: 1}
// An unknown name or argument is an error naming it and listing the valid ones.
#pragma once

#include <memory>

#include "framework/optim/lr_scheduler.h"
#include "framework/optim/optimizer.h"

namespace tandem::optim {

std::unique_ptr<Optimizer> make_optimizer(const Value& spec, std::vector<Tensor> params);

// `total` is the schedule length in scheduler steps (epochs, or optimizer steps when the
// scheduler steps per iteration): the default of T_max / total_iters / OneCycleLR's
// total_steps. `steps_per_epoch` converts warmup_epochs when stepping per iteration.
// The keys `interval` (epoch | step) and `warmup_epochs` are tandem's; `warmup_start_factor`
// (default 0.1) sets the warm-up's LinearLR start.
std::unique_ptr<LRScheduler> make_scheduler(const Value& spec, Optimizer& optimizer, int64_t total,
                                            int64_t steps_per_epoch);
// "epoch" or "step": when the scheduler of `spec` steps (onecyclelr defaults to "step").
std::string scheduler_interval(const Value& spec);

}  // namespace tandem::optim
