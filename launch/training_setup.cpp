// Model, data and weight loading shared by train, eval and predict.
#include "launch/training_setup.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "framework/data/fashion_mnist.h"
#include "framework/data/fashion_mnist_segmentation.h"
#include "framework/data/image_folder.h"
#include "framework/data/segmentation_folder.h"
#include "framework/data/synthetic.h"
#include "framework/data/tensor_files.h"
#include "framework/io/checkpoint.h"
#include "framework/io/serialize.h"
#include "framework/io/state_dict_utils.h"
#include "framework/nn/models/builder.h"
#include "framework/optim/factory.h"
#include "kernels/common/math_options.h"
#include "kernels/device/context.h"
#include "parallel/distributed_sampler.h"
#include "parallel/rank_helpers.h"

namespace tandem::launch {

Device use_device(const RunConfig& cfg, const parallel::World& world) {
  Device device;
  try {
    device = parallel::select_device(cfg.training.device, world);
  } catch (const Error& e) {
    throw Error("training.device: " + std::string(e.what()), e.hint());
  }
  if (device.is_cuda()) kernels::device::set_current_device(device.index);
  kernels::set_math_options({cfg.training.allow_tf32, cfg.training.deterministic});
  return device;
}

std::string device_description(Device device) {
  if (device.is_cpu()) return "cpu";
  return device.str() + (kernels::device::cuda_is_emulated() ? " (emulated)" : "");
}

std::string rank_devices(parallel::ProcessGroup* pg, Device device) {
  const std::string mine = device_description(device);
  if (!pg || pg->size() == 1) return "device " + mine;
  const auto all = parallel::allgather_strings(*pg, parallel::host_name() + '\n' + device.str());
  std::vector<std::string> hosts, devices;
  for (const auto& entry : all) {
    const size_t cut = entry.find('\n');
    hosts.push_back(entry.substr(0, cut));
    devices.push_back(entry.substr(cut + 1));
  }
  const bool one_host =
      std::all_of(hosts.begin(), hosts.end(), [&](const std::string& h) { return h == hosts[0]; });
  const bool all_cpu =
      std::all_of(devices.begin(), devices.end(), [](const std::string& d) { return d == "cpu"; });
  if (all_cpu) return "device cpu";
  std::string text = "devices [";
  for (size_t r = 0; r < all.size(); ++r)
    text += (r ? ", rank " : "rank ") + std::to_string(r) + ": " + devices[r] +
            (one_host ? "" : " on " + hosts[r]);
  text += "]";
  if (device.is_cuda() && kernels::device::cuda_is_emulated()) text += " (emulated)";
  return text;
}

nn::ModulePtr build_model_from_config(const RunConfig& cfg) {
  Generator gen(uint64_t(cfg.seed));
  try {
    return nn::models::build_model(cfg.model, gen, "model");
  } catch (const Error& e) {
    throw locate_config_error(cfg, "model", e);
  }
}

std::unique_ptr<optim::Optimizer> optimizer_from_config(const RunConfig& cfg,
                                                        std::vector<Tensor> params) {
  try {
    return optim::make_optimizer(cfg.optimizer, std::move(params));
  } catch (const Error& e) {
    throw locate_config_error(cfg, "optimizer", e);
  }
}

std::unique_ptr<optim::LRScheduler> scheduler_from_config(const RunConfig& cfg,
                                                          optim::Optimizer& optimizer,
                                                          int64_t total, int64_t steps_per_epoch) {
  if (cfg.scheduler.is_none()) return nullptr;
  try {
    return optim::make_scheduler(cfg.scheduler, optimizer, total, steps_per_epoch);
  } catch (const Error& e) {
    throw locate_config_error(cfg, "scheduler", e);
  }
}

void check_config(const RunConfig& cfg) {
  const nn::ModulePtr model = build_model_from_config(cfg);
  auto optimizer = optimizer_from_config(cfg, model->parameters());
  scheduler_from_config(cfg, *optimizer, cfg.training.epochs, 1);
}

Tensor forward_batch(nn::Module& model, const Tensor& inputs) {
  try {
    return model.forward(inputs);
  } catch (const Error& e) {
    if (!e.hint().empty()) throw;
    throw Error(e.what(), "the model does not fit the data: a batch is " +
                              shape_str(inputs.sizes()) +
                              "; check the layer sizes (in_channels, in_features, ...) in the "
                              "model section of the config");
  }
}

// The folder of a split of an image dataset: root/train for training; root/val for evaluation,
// or root/test where a dataset was published with a train/test split and has no val/.
static std::string split_folder(const std::string& root, const std::string& split) {
  namespace fs = std::filesystem;
  if (split == "train") return (fs::path(root) / "train").string();
  const fs::path val = fs::path(root) / "val", test = fs::path(root) / "test";
  if (fs::is_directory(val) || !fs::is_directory(test)) return val.string();
  return test.string();
}

std::shared_ptr<const data::Dataset> make_dataset(const RunConfig& cfg, const std::string& split) {
  const auto& d = cfg.data;
  if (d.dataset == "synthetic") {
    const bool train = split == "train";
    // Test examples come after the training ones: same class templates, fresh noise.
    return std::make_shared<data::SyntheticDataset>(
        train ? d.synthetic_train_size : d.synthetic_test_size,
        Shape(d.synthetic_shape.begin(), d.synthetic_shape.end()), d.synthetic_classes,
        uint64_t(cfg.seed), 0.3, train ? 0 : d.synthetic_train_size);
  }
  if (d.dataset == "fashion_mnist_segmentation")
    return std::make_shared<data::FashionMnistSegmentation>(d.root, split);
  if (d.dataset == "tensor_files")
    return std::make_shared<data::TensorFiles>(d.root, split == "test" ? "val" : split,
                                               d.num_classes, d.ignore_index);
  if (d.dataset == "image_folder" || d.dataset == "segmentation_folder") {
    const std::string dir = split_folder(d.root, split);
    const data::ColorMode mode =
        d.color_mode == "gray" ? data::ColorMode::Gray : data::ColorMode::RGB;
    if (d.dataset == "image_folder")
      return std::make_shared<data::ImageFolder>(dir, mode, d.skip_bad_images);
    return std::make_shared<data::SegmentationFolder>(dir, mode, d.num_classes, d.ignore_index,
                                                      d.skip_bad_images);
  }
  return std::make_shared<data::FashionMnist>(d.root, split);
}

std::shared_ptr<const data::TransformPipeline> make_transforms(const RunConfig& cfg, bool train) {
  const DataConfig& d = cfg.data;
  data::TransformOptions common;
  common.mask_fill = d.ignore_index;
  auto pipeline = std::make_shared<data::TransformPipeline>(
      data::parse_transforms(train ? d.train_transforms : d.val_transforms,
                             train ? "data.train_transforms" : "data.val_transforms", common));
  // The older keys are short forms of transforms: random_crop_padding is randomcrop of the
  // input's size after padding, horizontal_flip is randomhorizontalflip, mean/std is normalize
  // (applied last, to evaluation data too).
  if (train && d.random_crop_padding > 0) {
    data::RandomCropOptions crop;
    crop.padding = {d.random_crop_padding};
    pipeline->add(data::random_crop(crop, common));
  }
  if (train && d.horizontal_flip) pipeline->add(data::random_horizontal_flip(0.5));
  if (!d.mean.empty())
    pipeline->add(data::normalize(std::vector<float>(d.mean.begin(), d.mean.end()),
                                  std::vector<float>(d.std.begin(), d.std.end())));
  return pipeline;
}

// data.workers: -1: none for the datasets held in memory (the filling thread keeps up), two
// for those decoded from image files.
int64_t default_workers(const std::string& dataset) {
  return dataset == "image_folder" || dataset == "segmentation_folder" ? 2 : 0;
}

data::LoaderOptions loader_options(const RunConfig& cfg, bool train, Device device) {
  data::LoaderOptions o;
  o.batch_size =
      train || cfg.data.eval_batch_size == 0 ? cfg.data.batch_size : cfg.data.eval_batch_size;
  o.drop_last = train && cfg.data.drop_last;
  o.transforms = make_transforms(cfg, train);
  o.prefetch = cfg.data.prefetch;
  o.workers = cfg.data.workers >= 0 ? cfg.data.workers : default_workers(cfg.data.dataset);
  o.pin_memory = device.is_cuda();  // batches travel to the GPU without staging
  o.seed = uint64_t(cfg.seed);
  return o;
}

void load_weights(nn::Module& model, const std::string& path, bool strict, std::FILE* report) {
  io::PrefixChange change;
  const io::StateDict sd =
      io::reconcile_prefixes(io::load_state_dict(path), model.state_dict().keys(), &change);
  if (report && !change.empty())
    std::fprintf(report, "%s: %s\n", path.c_str(), change.describe().c_str());
  auto result = model.load_state_dict(sd, strict);
  if (report && (!result.missing_keys.empty() || !result.unexpected_keys.empty())) {
    std::fprintf(report, "init_from %s: %zu missing key(s), %zu unexpected key(s)\n", path.c_str(),
                 result.missing_keys.size(), result.unexpected_keys.size());
    for (const auto& k : result.missing_keys) std::fprintf(report, "  missing:    %s\n", k.c_str());
    for (const auto& k : result.unexpected_keys)
      std::fprintf(report, "  unexpected: %s\n", k.c_str());
  }
}

void check_resume(const io::Checkpoint& ck, const std::string& path,
                  const optim::Optimizer& optimizer, optim::LRScheduler* scheduler,
                  int64_t steps_per_epoch, int world_size) {
  try {
    if (ck.world_size == world_size && ck.step_in_epoch > steps_per_epoch)
      throw Error("checkpoint field 'step_in_epoch': " + std::to_string(ck.step_in_epoch) +
                      " steps done in an epoch of " + std::to_string(steps_per_epoch),
                  "the data config changed since the checkpoint was written (batch size, "
                  "dataset), or the file was edited; resume with the run's config");
    if (!ck.optimizer.is_none()) optimizer.check_state_dict(ck.optimizer);
    if (scheduler && !ck.scheduler.is_none()) scheduler->check_state_dict(ck.scheduler);
  } catch (const Error& e) {
    throw Error(path + ": " + e.what(), e.hint());
  }
}

int64_t steps_per_epoch_for(const RunConfig& cfg, int64_t train_examples, int world_size) {
  const parallel::DistributedSampler sampler(train_examples, world_size, 0, /*shuffle=*/true,
                                             uint64_t(cfg.seed), cfg.data.sampler_drop_last);
  const int64_t per_rank = sampler.num_samples(), batch = cfg.data.batch_size;
  int64_t steps = cfg.data.drop_last ? per_rank / batch : (per_rank + batch - 1) / batch;
  if (cfg.training.max_steps_per_epoch > 0)
    steps = std::min(steps, cfg.training.max_steps_per_epoch);
  return steps;
}

ResumePlan plan_resume(const io::Checkpoint& ck, const std::string& path, const RunConfig& cfg,
                       const ResumeRun& run) {
  ResumePlan plan;
  plan.start_epoch = ck.epoch;
  // The best metric: carried over only when it measured the same thing the same way. A
  // checkpoint from before `mode` was recorded has it in its stored config.
  std::string mode = ck.mode;
  if (mode.empty() && !ck.config_yaml.empty()) {
    try {
      mode = parse_config(ck.config_yaml, path + " (stored config)").checkpoint.mode;
    } catch (const Error&) {
      // an unreadable stored config: the mode stays unknown, as for a PyTorch checkpoint
    }
  }
  const bool other_monitor = !ck.monitor.empty() && ck.monitor != cfg.checkpoint.monitor;
  const bool other_mode = !mode.empty() && mode != cfg.checkpoint.mode;
  if (ck.has_best_metric && (other_monitor || other_mode)) {
    plan.keep_best = false;
    const std::string& old_monitor = ck.monitor.empty() ? cfg.checkpoint.monitor : ck.monitor;
    const std::string& old_mode = mode.empty() ? cfg.checkpoint.mode : mode;
    std::string note = "note: " + path + " tracked the best ";
    note += old_monitor + " (mode " + old_mode + "), this run's checkpoint.monitor and mode are ";
    note += cfg.checkpoint.monitor + " (mode " + cfg.checkpoint.mode + ")";
    note += ": best tracking starts afresh, and the next evaluation writes best.safetensors";
    plan.notes.push_back(note);
  }

  if (!ck.has_run_position) {
    // A PyTorch checkpoint dict: no step counters. It resumes at an epoch boundary; the steps
    // done are those of `epoch` epochs of this run.
    plan.global_step = ck.epoch * run.steps_per_epoch;
    std::string note = "note: " + path + " records no global_step (a PyTorch checkpoint): ";
    note += "counting on from ";
    note += std::to_string(ck.epoch) + " epoch(s) x ";
    note += std::to_string(run.steps_per_epoch) + " steps = step ";
    note += std::to_string(plan.global_step);
    plan.notes.push_back(note);
    return plan;
  }
  plan.global_step = ck.global_step;
  if (ck.world_size == run.world_size) {
    plan.first_batch = ck.step_in_epoch;
    return plan;
  }
  const std::string ranks_then = std::to_string(ck.world_size);
  const std::string ranks_now = std::to_string(run.world_size);
  const std::string same_ranks = "resume on " + ranks_then + " rank(s) (mpirun -np " + ranks_then +
                                 ", or tandem-run -np " + ranks_then + ")";
  if (ck.step_in_epoch > 0) {
    std::string what = path + ": saved in the middle of epoch " + std::to_string(ck.epoch + 1);
    what += " (after ";
    what += std::to_string(ck.step_in_epoch) + " of its steps) by " + ranks_then;
    what += " rank(s); this run has " + ranks_now;
    what += ", and an epoch's data order cannot continue on another number of ranks";
    throw Error(what, same_ranks +
                          " to finish the epoch; a checkpoint written at an epoch's end then "
                          "resumes on any number of ranks (or resume from an "
                          "epoch_NNNN.safetensors)");
  }
  std::string note =
      "note: the checkpoint was written by " + ranks_then + " rank(s), this run has ";
  note += ranks_now + ": the data order follows the new world size";
  plan.notes.push_back(note);
  if (run.per_step_scheduler && run.checkpoint_steps_per_epoch != run.steps_per_epoch) {
    if (run.scheduler_needs_metric)
      throw Error(path +
                      ": the scheduler steps per optimizer step on the metric, and an epoch was " +
                      std::to_string(run.checkpoint_steps_per_epoch) + " steps on " + ranks_then +
                      " rank(s) but is " + std::to_string(run.steps_per_epoch) + " on " +
                      ranks_now + ": its state cannot be carried over",
                  same_ranks);
    plan.scheduler_replay_steps = ck.epoch * run.steps_per_epoch;
    std::string s = "note: an epoch is now ";
    s += std::to_string(run.steps_per_epoch) + " steps (was ";
    s += std::to_string(run.checkpoint_steps_per_epoch) + "): the per-step scheduler is rebuilt ";
    s += "from the config and advanced ";
    s += std::to_string(plan.scheduler_replay_steps);
    s += " steps, to where a run on " + ranks_now + " rank(s) has it at epoch ";
    s += std::to_string(ck.epoch + 1);
    plan.notes.push_back(s);
  }
  return plan;
}

void advance_new_scheduler(const RunConfig& cfg, nn::Module& model, optim::Optimizer& optimizer,
                           optim::LRScheduler& scheduler, int64_t total, int64_t steps_per_epoch,
                           int64_t steps) {
  auto shadow_optimizer = optimizer_from_config(cfg, model.parameters());
  auto shadow = scheduler_from_config(cfg, *shadow_optimizer, total, steps_per_epoch);
  for (int64_t i = 0; i < steps; ++i) shadow->step();
  scheduler.load_state_dict(shadow->state_dict());
  const size_t groups =
      std::min(optimizer.param_groups().size(), shadow_optimizer->param_groups().size());
  for (size_t g = 0; g < groups; ++g) optimizer.set_lr(g, shadow_optimizer->lr(g));
}

}  // namespace tandem::launch
