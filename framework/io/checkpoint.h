// Checkpoint: everything needed to resume a run exactly, in one safetensors file. Tensors are
// ordinary entries ("model/<key>", "optimizer/state/<i>/<name>", ...); everything else (epoch,
// step, optimizer hyper-parameters, scheduler state, best metric, RNG states, the resolved
// config, world size, format version) is JSON in __metadata__["tandem"]. Writes are atomic
// (temp file, fsync, rename).
//
// Integrity: __metadata__["checksum"] (format 2) is a CRC32 over every tensor and every other
// metadata entry, so truncation or corruption anywhere is reported with the path instead of
// loading garbage; "crc32" covers the tensors alone (all format 1 had; format 1 files still
// load). A checksum detects accidents, not tampering: it is not a signature. So every field is
// also validated on load (types, ranges), and validate_resume() checks the state against the
// run before the trainer uses it.
#pragma once

#include <map>
#include <string>

#include "framework/core/ordered_dict.h"
#include "framework/core/value.h"

namespace tandem::io {

inline constexpr int64_t kCheckpointFormatVersion = 2;  // 2: the checksum covers metadata

struct Checkpoint {
  int64_t epoch = 0;          // epochs completed
  int64_t global_step = 0;    // optimizer steps completed
  int64_t step_in_epoch = 0;  // steps of the current epoch already done (mid-epoch save), else 0
  // A mid-epoch save's training loss so far (summed over the steps' examples and all ranks), so
  // the resumed epoch reports the mean over the whole epoch, not over the steps after the resume.
  double epoch_loss_sum = 0;
  double epoch_loss_count = 0;
  OrderedDict<std::string, Tensor> model;  // the unwrapped model's state_dict (no module. prefix)
  Value optimizer;                         // PyTorch's optimizer state_dict layout
  Value scheduler;  // PyTorch's scheduler state_dict layout (None if no scheduler)
  Value scaler;     // the loss scaler's state, GradScaler.state_dict()'s layout (None if none)
  double best_metric = 0;
  bool has_best_metric = false;
  bool is_best = false;
  std::string monitor;                     // the metric best_metric refers to
  std::string mode;                        // max or min: how best_metric compares ("": unknown)
  std::map<std::string, std::string> rng;  // generator name -> Generator::get_state()
  std::string config_yaml;                 // the resolved run config
  int64_t world_size = 1;
  int64_t steps_per_epoch = 0;  // optimizer steps in each of the run's epochs (0: not recorded)
  // False for a PyTorch checkpoint dict (.pt/.pth), which records no global_step, step_in_epoch,
  // world_size or steps_per_epoch: those fields then hold their defaults, not the run's.
  bool has_run_position = true;
  int64_t format_version = kCheckpointFormatVersion;
};

// Saves or loads a whole checkpoint in one call, as the trainer does; save's format follows the
// extension, load's the file's content (as torch.load: model_best.pth.tar, a file without
// extension or x.bin holding either format load alike):
//   .pt/.pth  PyTorch's checkpoint dict {'epoch', 'state_dict', 'optimizer', 'scheduler',
//             'best_metric', 'is_best'} and 'scaler' when there is a loss scaler (torch.load(path,
//             weights_only=True) reads it), plus the best metric under the tutorials' name for the
//             monitor (best_iou, best_dice, best_acc, best_loss); loading takes any PyTorch
//             checkpoint dict: the model under 'state_dict', 'model_state_dict' or 'model', the
//             optimizer under 'optimizer' or 'optimizer_state_dict', the scheduler under
//             'scheduler', 'lr_scheduler' or 'scheduler_state_dict', the loss scaler under 'scaler'
//             or 'scaler_state_dict', and 'epoch', 'best_metric' (or best_iou, ...), 'is_best'
//             where present (the
//             fields a .pt lacks, such as global_step or rng, keep their defaults);
//   other     the tandem checkpoint (safetensors): every field.
//
//   io::Checkpoint ck;
//   ck.epoch = epoch;
//   ck.model = net->state_dict();
//   ck.optimizer = opt.state_dict();
//   io::save_checkpoint(ck, "last.safetensors");
//   io::Checkpoint back = io::load_checkpoint("last.safetensors");
//   net->load_state_dict(back.model);
//   opt.load_state_dict(back.optimizer);
//
// Loading throws a clear error naming `path` (and the field) for a missing, truncated,
// corrupted, edited or foreign file.
void save_checkpoint(const Checkpoint& ckpt, const std::string& path);
Checkpoint load_checkpoint(const std::string& path);
// PyTorch's checkpoint dict of `ckpt`, what a .pt checkpoint holds.
Value to_torch_checkpoint(const Checkpoint& ckpt);
// True if `path` is a tandem checkpoint (a safetensors file with tandem metadata).
bool is_tandem_checkpoint(const std::string& path);

}  // namespace tandem::io
