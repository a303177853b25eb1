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
  return nn::models::build_model(cfg.model, gen, "model");
}

void check_config(const RunConfig& cfg) {
  const nn::ModulePtr model = build_model_from_config(cfg);
  auto optimizer = optim::make_optimizer(cfg.optimizer, model->parameters());
  if (!cfg.scheduler.is_none())
    optim::make_scheduler(cfg.scheduler, *optimizer, cfg.training.epochs, 1);
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

}  // namespace tandem::launch
