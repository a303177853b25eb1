// Everything a run needs before its first step, built from the RunConfig: ranks and process
// group, compute threads, device, the model (seeded identically on every rank), the optimizer
// and scheduler from their factories, the datasets and loaders. Kept apart from the loop so the
// eval/predict commands can build the same model and data.
#pragma once

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "framework/data/data_loader.h"
#include "framework/io/checkpoint.h"
#include "framework/nn/module.h"
#include "framework/optim/lr_scheduler.h"
#include "launch/config.h"
#include "parallel/distributed.h"

namespace tandem::launch {

// The device a rank runs on for training.device (cpu | cuda | cuda:N | auto; see
// parallel::select_device), made the thread's current CUDA device when it is one; also applies
// training.deterministic and training.allow_tf32 to the kernels.
Device use_device(const RunConfig& cfg, const parallel::World& world);
// "cpu", "cuda:0 (NVIDIA H200)" or "cuda:0 (emulated)", for the run's banner.
std::string device_description(Device device);
// The banner's device words: "device cpu" or "device cuda:0" for one rank or when every rank
// runs on the CPU; else which device each rank uses, "devices [rank 0: cuda:0, rank 1: cuda:1]",
// with each rank's host when the ranks span several. Collective (one all-gather of strings).
std::string rank_devices(parallel::ProcessGroup* pg, Device device);

// The model of a config, freshly initialised from `seed` (same on every rank).
nn::ModulePtr build_model_from_config(const RunConfig& cfg);
// The optimizer of a config over `params`, and its scheduler (null when the config has none)
// over `total` epochs or steps. These three name the config line of a bad argument.
std::unique_ptr<optim::Optimizer> optimizer_from_config(const RunConfig& cfg,
                                                        std::vector<Tensor> params);
std::unique_ptr<optim::LRScheduler> scheduler_from_config(const RunConfig& cfg,
                                                          optim::Optimizer& optimizer,
                                                          int64_t total, int64_t steps_per_epoch);

// Builds the model, the optimizer and the scheduler of `cfg` as a run would (on the CPU; nothing
// is trained or read), so a mistake in those sections is reported before anything runs
// (`tandem train --print-config` checks this way).
void check_config(const RunConfig& cfg);

// model(inputs) for a batch of data; an error there (a layer whose sizes do not fit the data)
// gets a hint naming the batch's shape.
Tensor forward_batch(nn::Module& model, const Tensor& inputs);

// The training and test datasets of a config (errors name data.dataset / data.root).
std::shared_ptr<const data::Dataset> make_dataset(const RunConfig& cfg, const std::string& split);
// data.train_transforms / val_transforms with the older short keys (random_crop_padding,
// horizontal_flip, mean/std) appended as the transforms they stand for.
std::shared_ptr<const data::TransformPipeline> make_transforms(const RunConfig& cfg, bool train);
data::LoaderOptions loader_options(const RunConfig& cfg, bool train, Device device = kCPU);

// Loads weights into `model` from a .pt/.pth/.safetensors state_dict or checkpoint (tandem's or
// PyTorch's), reconciling the wrapper prefixes (module., _orig_mod.). On `report` (null: say
// nothing) it says in one line which prefixes it stripped or added and, with strict=false, lists
// the missing and unexpected keys. Errors name the file.
void load_weights(nn::Module& model, const std::string& path, bool strict, std::FILE* report);

// Checks a checkpoint about to be resumed against this run, before anything uses it: the
// optimizer and scheduler states (each state tensor against its parameter, counts per group,
// types and ranges) and the data position (step_in_epoch within this run's epoch when the world
// size is unchanged). A checksum catches accidents, not edits; this catches what would corrupt
// memory or silently train wrong. Errors name the file and the field.
void check_resume(const io::Checkpoint& ck, const std::string& path,
                  const optim::Optimizer& optimizer, optim::LRScheduler* scheduler,
                  int64_t steps_per_epoch, int world_size);

// How a checkpoint about to be resumed continues in this run, decided from its fields before
// anything is loaded (plan_resume). Refusals are errors naming the file.
struct ResumeRun {                         // this run, as plan_resume sees it
  int64_t steps_per_epoch = 0;             // this run's optimizer steps per epoch
  int64_t checkpoint_steps_per_epoch = 0;  // the checkpoint's run's (its record, or computed)
  int world_size = 1;
  bool per_step_scheduler = false;  // a scheduler with interval: step
  bool scheduler_needs_metric = false;
};
struct ResumePlan {
  int64_t start_epoch = 0;  // epochs done
  int64_t global_step = 0;  // optimizer steps done
  int64_t first_batch = 0;  // steps of the current epoch done
  // The checkpoint's best metric carries over; false when it measured another monitor or mode,
  // and best tracking starts afresh.
  bool keep_best = true;
  // >= 0: the checkpoint's scheduler state counted steps of another epoch length (another world
  // size): build the scheduler afresh from the config and step it this many times (the steps a
  // run on this world size has done at the start of the epoch) instead of loading that state.
  int64_t scheduler_replay_steps = -1;
  std::vector<std::string> notes;  // "note: ..." lines for rank 0 to print
};
// The rules: a checkpoint on the same world size continues where it stopped (also mid-epoch). On
// another world size it continues only at an epoch boundary (a mid-epoch one is refused: the
// data order of the epoch cannot continue), and a per-step scheduler whose epoch length changed
// is rebuilt and advanced (a per-step ReduceLROnPlateau cannot be, and is refused). A PyTorch
// checkpoint (no global_step) counts on from epoch x steps_per_epoch. A best metric of another
// checkpoint.monitor or mode (the checkpoint's own, or its stored config's) is dropped.
ResumePlan plan_resume(const io::Checkpoint& ck, const std::string& path, const RunConfig& cfg,
                       const ResumeRun& run);

// Steps a per-step scheduler takes in an epoch: batches of this rank's share of the training set.
int64_t steps_per_epoch_for(const RunConfig& cfg, int64_t train_examples, int world_size);

// Puts `scheduler` (of `optimizer`) where a fresh run of `cfg` has it after `steps` scheduler
// steps: a scheduler built from the config on a shadow optimizer steps that many times, and its
// state and learning rates are copied over (the optimizer's other state stays as it is).
void advance_new_scheduler(const RunConfig& cfg, nn::Module& model, optim::Optimizer& optimizer,
                           optim::LRScheduler& scheduler, int64_t total, int64_t steps_per_epoch,
                           int64_t steps);

}  // namespace tandem::launch
