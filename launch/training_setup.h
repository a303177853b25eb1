// Everything a run needs before its first step, built from the RunConfig: ranks and process
// group, compute threads, device, the model (seeded identically on every rank), the optimizer
// and scheduler from their factories, the datasets and loaders. Kept apart from the loop so the
// eval/predict commands can build the same model and data.
#pragma once

#include <cstdio>
#include <memory>

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

}  // namespace tandem::launch
