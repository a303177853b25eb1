// Evaluation on the test split, shared by `tandem train` (every epoch, over ranks) and
// `tandem eval` (one process). Rank r takes examples r, r+R, ...: no padding, so the numbers
// reduced over ranks are exact and equal a single-process evaluation.
#pragma once

#include <vector>

#include "framework/data/data_loader.h"
#include "framework/nn/module.h"
#include "parallel/process_group.h"

namespace tandem::launch {

struct EvalResult {
  double loss = 0, accuracy = 0;
  int64_t samples = 0;
};

EvalResult evaluate(nn::Module& model, data::DataLoader& loader, Device device,
                    parallel::ProcessGroup* pg, int rank, int world);

}  // namespace tandem::launch
