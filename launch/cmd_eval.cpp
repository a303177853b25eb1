// `tandem eval [CONFIG.yaml] --checkpoint PATH`: one JSON line with the test-split metrics.
// `tandem predict [CONFIG.yaml] --checkpoint PATH --input IN --output OUT`: eval-mode forward of
// a safetensors batch, or of image files (predict_images.h).
// Both take tandem checkpoints (whose stored config makes CONFIG optional) and PyTorch files.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "framework/autograd/grad_mode.h"
#include "framework/io/checkpoint.h"
#include "framework/io/safetensors.h"
#include "launch/cli.h"
#include "launch/evaluate.h"
#include "launch/metrics_log.h"
#include "launch/mixed_precision.h"
#include "launch/predict_images.h"
#include "launch/training_setup.h"

namespace tandem::launch {
namespace {

// The config to rebuild the model: CONFIG if given, else the one stored in a tandem checkpoint.
RunConfig config_for(const CommandLine& cl, const std::string& checkpoint) {
  if (!cl.positional.empty()) return load_config(cl.positional[0], cl.sets);
  if (!io::is_tandem_checkpoint(checkpoint))
    throw Error(checkpoint + " is not a tandem checkpoint, so it carries no config",
                "give the run's CONFIG.yaml before --checkpoint to rebuild the model");
  return parse_config(io::load_checkpoint(checkpoint).config_yaml, checkpoint + " (stored config)",
                      cl.sets);
}

std::string required(const CommandLine& cl, const std::string& option, const char* command) {
  const std::string v = cl.option(option);
  if (v.empty()) throw Error(std::string("tandem ") + command + " needs " + option + " PATH");
  return v;
}

}  // namespace

int cmd_eval(const CommandLine& cl) {
  const std::string checkpoint = required(cl, "--checkpoint", "eval");
  RunConfig cfg = config_for(cl, checkpoint);
  const Device device = use_device(cfg, parallel::World{});
  nn::ModulePtr model = build_model_from_config(cfg);
  load_weights(*model, checkpoint, /*strict=*/true, stderr);  // stdout is the result
  model->to(device);
  data::DataLoader loader(make_dataset(cfg, "test"), loader_options(cfg, false, device));
  const bool segmentation = loader.dataset().segmentation();
  // Evaluated as trained, under training.precision's autocast; the CPU has no float16 autocast,
  // so an fp16 run's weights evaluate there in float32.
  std::string precision = cfg.training.precision;
  if (precision == "fp16" && device.is_cpu()) {
    std::fprintf(stderr, "note: training.precision fp16 has no CPU autocast: evaluating in fp32\n");
    precision = "fp32";
  }
  const MixedPrecision mp(precision, device);
  EvalResult r;
  {
    const auto amp = mp.region();
    r = evaluate(*model, loader, device, nullptr, 0, 1,
                 segmentation ? cfg.data.ignore_index : -100);
  }
  // The fields in the order README gives them.
  nlohmann::ordered_json j = {{"split", "test"},
                              {"loss", metric_json(r.loss)},
                              {"accuracy", metric_json(r.accuracy)},
                              {"samples", r.samples}};
  if (r.segmentation) {
    j["iou"] = metric_json(r.mean_iou);
    j["dice"] = metric_json(r.mean_dice);
    j["class_iou"] = metric_list(r.class_iou);
    j["class_dice"] = metric_list(r.class_dice);
  }
  std::printf("%s\n", j.dump().c_str());
  return 0;
}

int cmd_predict(const CommandLine& cl) {
  const std::string checkpoint = required(cl, "--checkpoint", "predict");
  const std::string in = required(cl, "--input", "predict");
  const std::string out = required(cl, "--output", "predict");
  RunConfig cfg = config_for(cl, checkpoint);
  const Device device = use_device(cfg, parallel::World{});
  nn::ModulePtr model = build_model_from_config(cfg);
  load_weights(*model, checkpoint, /*strict=*/true, stderr);  // stdout is the result
  model->to(device);
  if (is_image_input(in)) {
    const int64_t n = predict_images(*model, cfg, device, in, out);
    std::printf("{\"images\":%lld,\"output\":%s}\n", static_cast<long long>(n),
                nlohmann::json(out).dump().c_str());
    return 0;
  }
  auto inputs = io::load_safetensors(in);
  const Tensor* x = inputs.find("input");
  if (!x)
    throw Error(in + " has no tensor named \"input\"",
                "write the batch to predict as tensor \"input\"");
  NoGradGuard no_grad;
  model->eval();
  Tensor y = forward_batch(*model, x->to(device, DType::Float32)).cpu().contiguous();
  OrderedDict<std::string, Tensor> result;
  result.insert("output", y);
  io::save_safetensors(out, result);
  return 0;
}

}  // namespace tandem::launch
