// Run configuration: the YAML file of DESIGN.md parsed into typed structs. One schema table
// (config.cpp) drives parsing, defaults, unknown-key suggestions, --set overrides and the
// printed/saved resolved config, so the documentation and the parser cannot drift apart.
// The model, optimizer and scheduler sections are kept as Value trees and validated by their
// factories (names and arguments are PyTorch's).
//
//   RunConfig cfg = load_config("run.yaml", {"optimizer.lr=0.1"});
//   std::cout << to_yaml(cfg);
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "framework/core/value.h"

namespace tandem::launch {

struct DataConfig {
  std::string dataset = "fashion_mnist";  // see the schema in config.cpp
  std::string root = "/usr/share/datasets/fashion-mnist";
  int64_t batch_size = 64;         // per rank
  int64_t eval_batch_size = 0;     // 0: same as batch_size
  bool drop_last = false;          // the loader's last partial batch
  bool sampler_drop_last = false;  // DistributedSampler's: drop the tail instead of padding
  std::vector<double> mean;
  std::vector<double> std;
  int64_t random_crop_padding = 0;
  bool horizontal_flip = false;
  bool prefetch = true;
  int64_t workers = -1;    // -1: as the dataset needs (none in memory, two for image files)
  Value train_transforms;  // None or a list (framework/data/transforms.h)
  Value val_transforms;
  int64_t num_classes = 0;  // segmentation_folder / tensor_files (0: from the data)
  int64_t ignore_index = 255;
  bool skip_bad_images = false;
  std::string color_mode = "rgb";  // image files: rgb | gray (PIL's convert)
  // synthetic dataset
  int64_t synthetic_train_size = 512;
  int64_t synthetic_test_size = 128;
  std::vector<int64_t> synthetic_shape{1, 8, 8};
  int64_t synthetic_classes = 4;
};

struct TrainingConfig {
  int64_t epochs = 10;
  std::string device = "auto";  // auto | cpu | cuda | cuda:N
  int64_t threads = 1;          // compute threads per rank
  int64_t log_every = 50;       // optimizer steps between step records
  std::string precision = "fp32";
  double clip_grad_norm = 0;  // > 0: clip the gradients' total 2-norm to this before each step
  int64_t max_steps_per_epoch = 0;  // 0: full epochs (a knob for smoke tests)
  bool stop_on_nan = true;          // a non-finite training loss ends the run (exit 2)
  bool deterministic =
      true;                 // GPU: only bit-reproducible algorithms (kernels/common/math_options.h)
  bool allow_tf32 = false;  // GPU: float32 GEMMs and convolutions may use TF32
};

struct DistributedConfig {
  std::string backend = "auto";  // auto | mpi | nccl
  double bucket_cap_mb = 25;
  bool find_unused_parameters = false;
  bool gradient_as_bucket_view = false;
  bool broadcast_buffers = true;
};

// The training criterion: cross-entropy (nn.CrossEntropyLoss), over class labels or, for
// segmentation, over pixels, skipping data.ignore_index.
struct LossConfig {
  std::vector<double> weight;  // per class; empty: none
  double label_smoothing = 0;
};

struct CheckpointConfig {
  std::string dir = "runs/example";
  int64_t every_epochs = 1;
  int64_t keep_last = 3;
  std::string monitor = "accuracy";  // accuracy | loss
  std::string mode = "max";          // max | min
};

struct RunConfig {
  std::string source;  // file the config came from ("" for built-in)
  int64_t seed = 0;
  Value model;      // {name: ..., ...}
  Value optimizer;  // {name: sgd, lr: ...}
  Value scheduler;  // None or {name: ..., interval: epoch|step, warmup_epochs: N, ...}
  DataConfig data;
  TrainingConfig training;
  DistributedConfig distributed;
  LossConfig loss;
  CheckpointConfig checkpoint;
  std::string init_from;  // "" = none
  bool init_strict = true;
  // Where each value of the free-form sections (model, optimizer, scheduler, the transform
  // lists) came from, by its path ("optimizer.momentum", "model.layers[2].linear"): "run.yaml:12"
  // or "--set optimizer.lr=0.1". Not saved: messages only.
  std::map<std::string, std::string> value_origins;
};

// An error raised while building `section` (model, optimizer or scheduler) from its Value tree,
// located in the config. A message that starts with a value's path ("scheduler.step_size: ...")
// gets that value's place (or the nearest recorded one above it): "config error: run.yaml:12:
// scheduler.step_size: ..."; any other ("Invalid momentum value: -1", PyTorch's words) gets the
// section's: "config error: run.yaml:3: optimizer: Invalid momentum value: -1".
Error locate_config_error(const RunConfig& cfg, const std::string& section, const Error& e);

// Parses `path`, applies `overrides` ("a.b.c=value", value in YAML syntax), validates and fills
// defaults. Errors name the file, the key path and the line, and suggest the closest valid key.
RunConfig load_config(const std::string& path, const std::vector<std::string>& overrides = {});
RunConfig parse_config(const std::string& yaml_text, const std::string& source,
                       const std::vector<std::string>& overrides = {});
// The resolved config as YAML (every key, defaults included); parse_config(to_yaml(c)) == c.
std::string to_yaml(const RunConfig& config);
// The resolved config as (key path, value) pairs, one per leaf, values in YAML flow syntax, the
// free-form sections expanded ("optimizer.lr", "model.layers[1].linear.out_features"). With
// `rank_local` false it leaves out the keys that may differ between the ranks of one job: what
// the ranks must agree on.
std::vector<std::pair<std::string, std::string>> config_entries(const RunConfig& config,
                                                                bool rank_local = true);
// Keys that change where or how fast one rank works, not what the job computes: data.root (each
// node's copy of the dataset; its size is checked separately), data.prefetch, training.threads.
bool is_rank_local_key(const std::string& path);
// Documentation of every key: path, default and meaning (for `tandem train --help-config`).
std::string config_reference();

}  // namespace tandem::launch
