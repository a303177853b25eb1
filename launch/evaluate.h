// Evaluation on the test split, shared by `tandem train` (every epoch, over ranks) and
// `tandem eval` (one process). Rank r takes examples r, r+R, ...: no padding, so the numbers
// reduced over ranks are exact and equal a single-process evaluation.
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include "framework/data/data_loader.h"
#include "framework/nn/module.h"
#include "parallel/process_group.h"

namespace tandem::launch {

struct EvalResult {
  double loss = 0;      // mean cross-entropy (unweighted, over labels or labelled pixels)
  double accuracy = 0;  // of labels, or of labelled pixels for segmentation
  int64_t samples = 0;
  // Segmentation: from the confusion matrix summed over ranks (exact under DDP). Means are over
  // the classes present in the targets or the predictions (NaN-skipping); a class with neither
  // has a NaN IoU and Dice.
  bool segmentation = false;
  double mean_iou = NAN, mean_dice = NAN;
  std::vector<double> class_iou, class_dice;

  // The value of checkpoint.monitor: accuracy, loss, iou or dice.
  double metric(const std::string& monitor) const;
};

// Evaluates on the examples r, r + world, ... of the loader's dataset; `ignore_index` is the
// mask value segmentation skips.
EvalResult evaluate(nn::Module& model, data::DataLoader& loader, Device device,
                    parallel::ProcessGroup* pg, int rank, int world, int64_t ignore_index = 255);

}  // namespace tandem::launch
