// The training loop of `tandem train`: builds model, optimizer, scheduler and data from a
// RunConfig, wraps the model in DistributedDataParallel when there are several ranks, and runs
// epochs of train + evaluate with metrics, progress and checkpoints on rank 0. Resumes exactly
// from last.safetensors (same epoch, step within the epoch, optimizer, scheduler, data order).
#pragma once

#include <string>

#include "launch/config.h"

namespace tandem::launch {

struct TrainOptions {
  std::string resume = "auto";  // auto | never | PATH
};

// Returns the process exit code (0 also after a clean stop on SIGINT/SIGTERM).
int train(const RunConfig& config, const TrainOptions& options);

}  // namespace tandem::launch
