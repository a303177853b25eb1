// The config schema and the YAML <-> RunConfig conversion (see config.h).
#include "launch/config.h"

#include "framework/core/text.h"
#include "framework/data/transforms.h"
#include "framework/nn/models/builder.h"
#include "framework/nn/module.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <sstream>
#include <unordered_map>

namespace tandem::launch {
namespace {

// The file being parsed and the --set overrides applied to it.
struct Ctx {
  const std::string& source;
  const std::vector<std::string>& overrides;  // "a.b=value"
};

// The --set assignment that wrote `path` (or a section above it), or "".
std::string override_of(const Ctx& c, const std::string& path) {
  std::string found;
  for (const std::string& o : c.overrides) {  // the last one wins, as when applied
    const std::string key = o.substr(0, o.find('='));
    if (path == key || path.rfind(key + ".", 0) == 0 || path.rfind(key + "[", 0) == 0) found = o;
  }
  return found;
}

// Where a value came from, for messages: "run.yaml:12", or "--set a.b=value" for a value that
// an override wrote (its nodes carry no position in the file).
std::string where(const Ctx& c, const YAML::Node& node, const std::string& path) {
  if (const std::string o = override_of(c, path); !o.empty()) return "--set " + o;
  const std::string file = c.source.empty() ? std::string("<config>") : c.source;
  if (!node.IsDefined()) return file;
  const YAML::Mark m = node.Mark();
  if (m.line < 0) return file;
  return file + ":" + std::to_string(m.line + 1);
}

[[noreturn]] void fail(const Ctx& c, const YAML::Node& node, const std::string& path,
                       const std::string& what, const std::string& hint = {}) {
  throw Error("config error: " + where(c, node, path) + ": " + path + ": " + what, hint);
}

std::string scalar_text(const YAML::Node& n) {
  return n.IsScalar() ? n.Scalar()
                      : std::string("<") +
                            (n.IsMap()        ? "mapping"
                             : n.IsSequence() ? "list"
                                              : "null") +
                            ">";
}

bool parse_int(const std::string& s, int64_t& out) {
  if (s.empty()) return false;
  size_t pos = 0;
  try {
    out = std::stoll(s, &pos);
  } catch (...) {
    return false;
  }
  return pos == s.size();
}

bool parse_double(const std::string& s, double& out) {
  if (s.empty()) return false;
  if (s == ".inf" || s == "inf") return out = INFINITY, true;
  if (s == "-.inf" || s == "-inf") return out = -INFINITY, true;
  if (s == ".nan" || s == "nan") return out = NAN, true;
  size_t pos = 0;
  try {
    out = std::stod(s, &pos);
  } catch (...) {
    return false;
  }
  return pos == s.size();
}

bool parse_bool(const std::string& s, bool& out) {
  if (s == "true" || s == "True" || s == "TRUE" || s == "yes" || s == "on") return out = true, true;
  if (s == "false" || s == "False" || s == "FALSE" || s == "no" || s == "off")
    return out = false, true;
  return false;
}

bool is_null(const YAML::Node& n) {
  return !n.IsDefined() || n.IsNull() ||
         (n.IsScalar() && (n.Scalar() == "~" || n.Scalar() == "null"));
}

// --- typed readers ---------------------------------------------------------------------------

void read(const Ctx& c, const YAML::Node& n, const std::string& path, int64_t& out) {
  if (!n.IsScalar() || !parse_int(n.Scalar(), out))
    fail(c, n, path, "expected an integer, got '" + scalar_text(n) + "'");
}
void read(const Ctx& c, const YAML::Node& n, const std::string& path, double& out) {
  if (!n.IsScalar() || !parse_double(n.Scalar(), out))
    fail(c, n, path, "expected a number, got '" + scalar_text(n) + "'");
}
void read(const Ctx& c, const YAML::Node& n, const std::string& path, bool& out) {
  if (!n.IsScalar() || !parse_bool(n.Scalar(), out))
    fail(c, n, path, "expected true or false, got '" + scalar_text(n) + "'");
}
void read(const Ctx& c, const YAML::Node& n, const std::string& path, std::string& out) {
  if (is_null(n)) {
    out.clear();
    return;
  }
  if (!n.IsScalar()) fail(c, n, path, "expected a string, got " + scalar_text(n));
  out = n.Scalar();
}
template <typename T>
void read(const Ctx& c, const YAML::Node& n, const std::string& path, std::vector<T>& out) {
  out.clear();
  if (is_null(n)) return;
  if (n.IsScalar()) {  // a single number stands for a one-element list
    T v;
    read(c, n, path, v);
    out.push_back(v);
    return;
  }
  if (!n.IsSequence()) fail(c, n, path, "expected a list, got " + scalar_text(n));
  for (size_t i = 0; i < n.size(); ++i) {
    T v;
    read(c, n[i], path + "[" + std::to_string(i) + "]", v);
    out.push_back(v);
  }
}

// A config expands into at most this many values: far more than any model needs, and a bound
// on "billion laughs" documents, whose aliases share one node that expands exponentially.
constexpr size_t kMaxConfigValues = 100'000;

// YAML -> Value for the free-form sections (model, optimizer, scheduler). Aliases are expanded
// against `budget`, and nesting is bounded, so a hostile config fails fast instead of hanging.
// Each node's origin is recorded in `origins` by its path, for errors its consumer raises later
// (locate_config_error).
Value to_value(const Ctx& c, const YAML::Node& n, const std::string& path, size_t depth,
               size_t& budget, std::map<std::string, std::string>& origins) {
  if (budget == 0)
    fail(c, n, path,
         "the config expands to more than " + std::to_string(kMaxConfigValues) +
             " values (YAML aliases that repeat large nodes?)",
         "write the values out instead of repeating anchors (&name / *name)");
  --budget;
  if (depth > kMaxValueDepth)
    fail(c, n, path, "nested more than " + std::to_string(kMaxValueDepth) + " levels deep");
  origins[path] = where(c, n, path);
  if (is_null(n)) return Value();
  if (n.IsScalar()) {
    const std::string& s = n.Scalar();
    int64_t i;
    double d;
    bool b;
    if (n.Tag() != "!" && parse_int(s, i))
      return Value(i);  // quoted scalars (tag "!") stay strings
    if (n.Tag() != "!" && parse_double(s, d)) return Value(d);
    if (n.Tag() != "!" && parse_bool(s, b)) return Value(b);
    return Value(s);
  }
  if (n.IsSequence()) {
    Value list = Value::list();
    size_t i = 0;
    for (const auto& item : n)
      list.append(
          to_value(c, item, path + "[" + std::to_string(i++) + "]", depth + 1, budget, origins));
    return list;
  }
  Value dict = Value::dict();
  // Keys are unique here: parse_config refuses a mapping that repeats one (check_unique_keys).
  DictIndex index(dict);
  for (const auto& kv : n) {
    if (!kv.first.IsScalar()) fail(c, kv.first, path, "a key must be a plain name");
    index.set(Value(kv.first.Scalar()),
              to_value(c, kv.second, path + "." + kv.first.Scalar(), depth + 1, budget, origins));
  }
  return dict;
}

// Refuses a mapping, anywhere in the document, that repeats a key: YAML says keys are unique,
// and yaml-cpp keeps both entries, so the later one would silently override the earlier (two
// `seed:` or two `data:` sections are a mistake, not a merge). Walks at most `budget` nodes and
// kMaxValueDepth levels: what lies beyond fails later with its own error (an alias-expanded
// "billion laughs" document, a nesting too deep).
void check_unique_keys(const Ctx& c, const YAML::Node& n, const std::string& path, size_t depth,
                       size_t& budget) {
  if (budget == 0 || depth > kMaxValueDepth) return;
  --budget;
  if (n.IsSequence()) {
    size_t i = 0;
    for (const auto& item : n)
      check_unique_keys(c, item, path + "[" + std::to_string(i++) + "]", depth + 1, budget);
    return;
  }
  if (!n.IsMap()) return;
  std::unordered_map<std::string, int> first_line;  // key -> its line (0-based)
  for (const auto& kv : n) {
    if (!kv.first.IsScalar()) continue;  // reported where the section is read
    const std::string& key = kv.first.Scalar();
    const std::string key_path = path.empty() ? key : path + "." + key;
    const auto [earlier, inserted] = first_line.emplace(key, kv.first.Mark().line);
    if (!inserted) {
      std::string what = "duplicate key (first at line ";
      what += std::to_string(earlier->second + 1) + "); YAML keys must be unique";
      fail(c, kv.first, key_path, what,
           "keep one '" + key + "': the later one would silently override the earlier");
    }
    check_unique_keys(c, kv.second, key_path, depth + 1, budget);
  }
}

// A float as YAML text that reads back as the same double, in Python's shortest form (0.05,
// 0.0005, 1e-05, 2.0; yaml-cpp's own writes 0.050000000000000003), or .inf, -.inf, .nan.
YAML::Node float_node(double d) {
  if (std::isnan(d)) return YAML::Node(".nan");
  if (std::isinf(d)) return YAML::Node(d > 0 ? ".inf" : "-.inf");
  return YAML::Node(nn::python_float_str(d));
}

YAML::Node from_value(const Value& v) {
  if (v.is_none()) return YAML::Node(YAML::NodeType::Null);
  if (v.is_bool()) return YAML::Node(v.to_bool());
  if (v.is_int()) return YAML::Node(v.to_int());
  if (v.is_double()) return float_node(v.to_double());
  if (v.is_string()) return YAML::Node(v.to_string());
  if (v.is_list() || v.is_tuple()) {
    YAML::Node seq(YAML::NodeType::Sequence);
    for (const auto& item : v.items()) seq.push_back(from_value(item));
    return seq;
  }
  if (v.is_dict()) {
    YAML::Node map(YAML::NodeType::Map);
    for (const auto& [k, item] : v.dict_items())
      map[k.is_string() ? k.to_string() : k.repr()] = from_value(item);
    return map;
  }
  TANDEM_FAIL("config: a ", v.kind(), " cannot be written as YAML");
}

template <typename T>
YAML::Node to_node(const T& v) {
  if constexpr (std::is_same_v<T, std::string>)
    return v.empty() ? YAML::Node(YAML::NodeType::Null) : YAML::Node(v);
  else if constexpr (std::is_same_v<T, double>)
    return float_node(v);
  else if constexpr (std::is_same_v<T, std::vector<double>> ||
                     std::is_same_v<T, std::vector<int64_t>>) {
    YAML::Node seq(YAML::NodeType::Sequence);
    for (auto x : v) seq.push_back(to_node(x));
    seq.SetStyle(YAML::EmitterStyle::Flow);
    return seq;
  } else
    return YAML::Node(v);
}

// --- the schema --------------------------------------------------------------------------------

struct Field {
  std::string path;
  std::string doc;
  std::function<void(RunConfig&, const Ctx&, const YAML::Node&)> read;
  std::function<YAML::Node(const RunConfig&)> write;
};

template <typename T>
Field top(const char* path, T RunConfig::*m, const char* doc) {
  return Field{
      path, doc,
      [m, path](RunConfig& c, const Ctx& ctx, const YAML::Node& n) { read(ctx, n, path, c.*m); },
      [m](const RunConfig& c) { return to_node(c.*m); }};
}

template <typename S, typename T>
Field sub(const char* path, S RunConfig::*s, T S::*m, const char* doc) {
  return Field{path, doc,
               [s, m, path](RunConfig& c, const Ctx& ctx, const YAML::Node& n) {
                 read(ctx, n, path, c.*s.*m);
               },
               [s, m](const RunConfig& c) { return to_node(c.*s.*m); }};
}

// "mlp, simple_cnn, ...": the zoo's models, for the model key's documentation.
std::string zoo_names() {
  std::string out;
  for (const std::string& name : nn::models::zoo_model_names())
    out += (out.empty() ? "" : ", ") + name;
  return out;
}

Field free_form(const char* path, Value RunConfig::*m, std::string doc) {
  return Field{path, std::move(doc),
               [m, path](RunConfig& c, const Ctx& ctx, const YAML::Node& n) {
                 if (!is_null(n) && !n.IsMap())
                   fail(ctx, n, path,
                        "expected a mapping like {name: ..., ...}, got " + scalar_text(n));
                 size_t budget = kMaxConfigValues;
                 c.*m = to_value(ctx, n, path, 0, budget, c.value_origins);
               },
               [m](const RunConfig& c) { return from_value(c.*m); }};
}

// A list kept as a Value tree and validated by its consumer (the transform lists).
template <typename S>
Field free_form_list(const char* path, S RunConfig::*s, Value S::*m, std::string doc) {
  return Field{path, std::move(doc),
               [s, m, path](RunConfig& c, const Ctx& ctx, const YAML::Node& n) {
                 if (!is_null(n) && !n.IsSequence())
                   fail(ctx, n, path,
                        "expected a list like [a, {b: {...}}], got " + scalar_text(n));
                 size_t budget = kMaxConfigValues;
                 c.*s.*m = to_value(ctx, n, path, 0, budget, c.value_origins);
               },
               [s, m](const RunConfig& c) { return from_value(c.*s.*m); }};
}

const std::vector<Field>& schema() {
  static const std::vector<Field> fields = {
      top("seed", &RunConfig::seed,
          "seed for initialisation, data order (DistributedSampler seed) and augmentation"),
      free_form(
          "model", &RunConfig::model,
          "{name: sequential, layers: [...]} or a zoo name (" + zoo_names() + ") with its options"),
      sub("data.dataset", &RunConfig::data, &DataConfig::dataset,
          "fashion_mnist, fashion_mnist_segmentation, image_folder, segmentation_folder, "
          "tensor_files or synthetic"),
      sub("data.root", &RunConfig::data, &DataConfig::root,
          "the dataset's folder: the IDX .gz files (Debian's dataset-fashion-mnist), or one with "
          "train/ and val/ (image_folder, segmentation_folder, tensor_files)"),
      sub("data.batch_size", &RunConfig::data, &DataConfig::batch_size,
          "examples per rank per step"),
      sub("data.eval_batch_size", &RunConfig::data, &DataConfig::eval_batch_size,
          "per-rank evaluation batch (0: batch_size)"),
      sub("data.drop_last", &RunConfig::data, &DataConfig::drop_last,
          "drop the last partial batch (DataLoader's drop_last)"),
      sub("data.sampler_drop_last", &RunConfig::data, &DataConfig::sampler_drop_last,
          "DistributedSampler's drop_last: drop the examples past a multiple of the rank count "
          "instead of padding with repeats from the start"),
      sub("data.mean", &RunConfig::data, &DataConfig::mean,
          "per-channel normalisation mean (empty: none)"),
      sub("data.std", &RunConfig::data, &DataConfig::std, "per-channel normalisation std"),
      sub("data.random_crop_padding", &RunConfig::data, &DataConfig::random_crop_padding,
          "augmentation: random crop after zero padding by this many pixels (0: off)"),
      sub("data.horizontal_flip", &RunConfig::data, &DataConfig::horizontal_flip,
          "augmentation: horizontal flip with probability 0.5"),
      sub("data.prefetch", &RunConfig::data, &DataConfig::prefetch,
          "fill batches on a background thread"),
      sub("data.workers", &RunConfig::data, &DataConfig::workers,
          "threads per rank that load and transform examples besides the batch-filling thread "
          "(-1: none for datasets held in memory, two for image files)"),
      free_form_list("data.train_transforms", &RunConfig::data, &DataConfig::train_transforms,
                     "torchvision transforms for training examples, in lower case: resize, "
                     "centercrop, randomcrop, randomresizedcrop, randomhorizontalflip, normalize, "
                     "totensor (null: none)"),
      free_form_list("data.val_transforms", &RunConfig::data, &DataConfig::val_transforms,
                     "transforms for evaluation and prediction (null: none)"),
      sub("data.num_classes", &RunConfig::data, &DataConfig::num_classes,
          "classes of a segmentation_folder or tensor_files dataset (0: from the data)"),
      sub("data.ignore_index", &RunConfig::data, &DataConfig::ignore_index,
          "segmentation: the mask value that is no class (cross-entropy's ignore_index)"),
      sub("data.skip_bad_images", &RunConfig::data, &DataConfig::skip_bad_images,
          "image folders: check every image when the run starts and leave out (with a warning) "
          "those that do not decode, instead of stopping at the first"),
      sub("data.color_mode", &RunConfig::data, &DataConfig::color_mode,
          "image files: rgb (3 channels) or gray (1), as PIL's convert(\"RGB\") / convert(\"L\")"),
      sub("data.synthetic_train_size", &RunConfig::data, &DataConfig::synthetic_train_size,
          "synthetic dataset: training examples"),
      sub("data.synthetic_test_size", &RunConfig::data, &DataConfig::synthetic_test_size,
          "synthetic dataset: test examples"),
      sub("data.synthetic_shape", &RunConfig::data, &DataConfig::synthetic_shape,
          "synthetic dataset: example shape"),
      sub("data.synthetic_classes", &RunConfig::data, &DataConfig::synthetic_classes,
          "synthetic dataset: number of classes"),
      free_form("optimizer", &RunConfig::optimizer,
                "{name: sgd|adam|adamw, <PyTorch argument>: value, ...}"),
      free_form("scheduler", &RunConfig::scheduler,
                "null or {name: <lower-case PyTorch scheduler>, interval: epoch|step, "
                "warmup_epochs: N, <PyTorch argument>: value}"),
      sub("training.epochs", &RunConfig::training, &TrainingConfig::epochs, "number of epochs"),
      sub("training.device", &RunConfig::training, &TrainingConfig::device,
          "auto, cpu, cuda or cuda:N (auto: cuda:<local rank> when every rank has a GPU; cuda:N "
          "picks a GPU for a single process)"),
      sub("training.threads", &RunConfig::training, &TrainingConfig::threads,
          "compute (BLAS) threads per rank"),
      sub("training.log_every", &RunConfig::training, &TrainingConfig::log_every,
          "optimizer steps between step records in metrics.jsonl"),
      sub("training.precision", &RunConfig::training, &TrainingConfig::precision,
          "fp32, bf16 or fp16: bf16/fp16 run the forward pass under autocast with float32 master "
          "weights; fp16 adds a dynamic loss scaler (GPU only)"),
      sub("training.clip_grad_norm", &RunConfig::training, &TrainingConfig::clip_grad_norm,
          "0: off; > 0: clip the gradients' total 2-norm to this value before each optimizer step "
          "(torch.nn.utils.clip_grad_norm_; with fp16, after unscaling)"),
      sub("training.max_steps_per_epoch", &RunConfig::training,
          &TrainingConfig::max_steps_per_epoch, "cap steps per epoch (0: no cap; for smoke tests)"),
      sub("training.stop_on_nan", &RunConfig::training, &TrainingConfig::stop_on_nan,
          "stop the run (exit 2, no checkpoint of the broken weights) when the training loss is "
          "nan or inf; false: train on and record it"),
      sub("training.deterministic", &RunConfig::training, &TrainingConfig::deterministic,
          "GPU: only algorithms that give bit-identical results run to run (deterministic cuDNN "
          "algorithms, no floating-point atomics); false allows the fastest"),
      sub("training.allow_tf32", &RunConfig::training, &TrainingConfig::allow_tf32,
          "GPU: float32 matrix products and convolutions may use TF32 tensor cores (faster, "
          "about 1e-3 relative error)"),
      sub("distributed.backend", &RunConfig::distributed, &DistributedConfig::backend,
          "auto (NCCL for CUDA, MPI for CPU), mpi or nccl"),
      sub("distributed.bucket_cap_mb", &RunConfig::distributed, &DistributedConfig::bucket_cap_mb,
          "DDP gradient bucket size in MiB"),
      sub("distributed.find_unused_parameters", &RunConfig::distributed,
          &DistributedConfig::find_unused_parameters, "as DDP's find_unused_parameters"),
      sub("distributed.gradient_as_bucket_view", &RunConfig::distributed,
          &DistributedConfig::gradient_as_bucket_view, "as DDP's gradient_as_bucket_view"),
      sub("distributed.broadcast_buffers", &RunConfig::distributed,
          &DistributedConfig::broadcast_buffers,
          "broadcast buffers (BatchNorm stats) from rank 0 each forward"),
      sub("loss.weight", &RunConfig::loss, &LossConfig::weight,
          "cross-entropy class weights, one per class (empty: none), as nn.CrossEntropyLoss's "
          "weight"),
      sub("loss.label_smoothing", &RunConfig::loss, &LossConfig::label_smoothing,
          "as nn.CrossEntropyLoss's label_smoothing"),
      sub("checkpoint.dir", &RunConfig::checkpoint, &CheckpointConfig::dir,
          "run directory: checkpoints, metrics.jsonl, config.yaml"),
      sub("checkpoint.every_epochs", &RunConfig::checkpoint, &CheckpointConfig::every_epochs,
          "write epoch_NNNN.safetensors every N epochs"),
      sub("checkpoint.keep_last", &RunConfig::checkpoint, &CheckpointConfig::keep_last,
          "epoch checkpoints to keep (older ones are pruned; 0 keeps every one)"),
      sub("checkpoint.monitor", &RunConfig::checkpoint, &CheckpointConfig::monitor,
          "metric that decides best.safetensors: accuracy (pixel accuracy for segmentation), "
          "loss, iou (mean IoU) or dice (mean Dice)"),
      sub("checkpoint.mode", &RunConfig::checkpoint, &CheckpointConfig::mode, "max or min"),
      top("init_from", &RunConfig::init_from,
          "a .pt/.pth/.safetensors state_dict or checkpoint to start from (module. prefixes "
          "reconciled)"),
      top("init_strict", &RunConfig::init_strict,
          "false: report missing/unexpected keys of init_from instead of failing"),
  };
  return fields;
}

const Field* find_field(const std::string& path) {
  for (const auto& f : schema())
    if (f.path == path) return &f;
  return nullptr;
}

bool is_section(const std::string& key) {
  for (const auto& f : schema())
    if (f.path.rfind(key + ".", 0) == 0) return true;
  return false;
}

std::vector<std::string> keys_under(const std::string& prefix) {
  std::vector<std::string> out;
  for (const auto& f : schema()) {
    if (prefix.empty()) {
      const std::string head = f.path.substr(0, f.path.find('.'));
      if (std::find(out.begin(), out.end(), head) == out.end()) out.push_back(head);
    } else if (f.path.rfind(prefix + ".", 0) == 0) {
      out.push_back(f.path.substr(prefix.size() + 1));
    }
  }
  return out;
}

// The config of an empty file: RunConfig's defaults and the default model and optimizer.
RunConfig default_config() {
  RunConfig cfg;
  cfg.optimizer = Value::dict();
  cfg.optimizer.set("name", "sgd");
  cfg.optimizer.set("lr", 0.01);
  cfg.model = Value::dict();
  cfg.model.set("name", "mlp");
  return cfg;
}

// "training.epochs: number of epochs (default: 10); `tandem train --help-config` lists every
// key": what a key takes, for the hint of an error about its value.
std::string field_hint(const std::string& path) {
  const Field* f = find_field(path);
  if (!f) return "`tandem train --help-config` lists every key with its default and meaning";
  YAML::Emitter v;
  v << YAML::Flow << f->write(default_config());
  return path + ": " + f->doc + " (default: " + v.c_str() +
         "); `tandem train --help-config` lists every key";
}

[[noreturn]] void unknown_key(const Ctx& ctx, const YAML::Node& node, const std::string& prefix,
                              const std::string& key) {
  const std::string path = prefix.empty() ? key : prefix + "." + key;
  const std::string guess = closest_match(key, keys_under(prefix));
  std::string hint = guess.empty()
                         ? "valid keys here: "
                         : "did you mean '" + (prefix.empty() ? guess : prefix + "." + guess) +
                               "'? valid keys here: ";
  const auto valid = keys_under(prefix);
  for (size_t i = 0; i < valid.size(); ++i) hint += (i ? ", " : "") + valid[i];
  fail(ctx, node, path, "unknown key", hint);
}

void apply_override(YAML::Node& root, const std::string& assignment) {
  const size_t eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    throw Error("--set expects key.path=value, got '" + assignment + "'",
                "example: --set optimizer.lr=0.1");
  const std::string path = assignment.substr(0, eq);
  if (size_t bad = 0; !is_valid_utf8(assignment, &bad))
    throw Error("--set " + path + ": not UTF-8 text (byte " + std::to_string(bad) + ")");
  YAML::Node value;
  try {
    value = YAML::Load(assignment.substr(eq + 1));
  } catch (const YAML::Exception& e) {
    throw Error("--set " + path + ": invalid YAML value: " + e.msg);
  }
  std::vector<std::string> parts;
  std::stringstream ss(path);
  for (std::string p; std::getline(ss, p, '.');) parts.push_back(p);
  // In a list a part is an item's position (model.layers.1.linear.out_features): the rest of the
  // list stays. A position outside the list is an error naming its length.
  auto list_index = [&](const YAML::Node& list, size_t i) {
    const std::string& part = parts[i];
    std::string prefix;
    for (size_t k = 0; k < i; ++k) prefix += (k ? "." : "") + parts[k];
    size_t pos = 0, used = 0;
    try {
      pos = std::stoul(part, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != part.size() || pos >= list.size())
      throw Error("--set " + path + ": " + prefix + " is a list of " + std::to_string(list.size()) +
                      " items; '" + part + "' is not a position in it",
                  "name an item by its position from 0, e.g. --set " + prefix + ".0...");
    return pos;
  };
  YAML::Node cur = root;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    if (cur.IsSequence()) {
      YAML::Node next = cur[list_index(cur, i)];
      cur.reset(next);
      continue;
    }
    YAML::Node next = cur[parts[i]];
    if (!next.IsMap() && !next.IsSequence()) {
      cur[parts[i]] = YAML::Node(YAML::NodeType::Map);
      next = cur[parts[i]];
    }
    cur.reset(next);
  }
  if (cur.IsSequence())
    cur[list_index(cur, parts.size() - 1)] = value;
  else
    cur[parts.back()] = value;
}

}  // namespace

RunConfig parse_config(const std::string& text, const std::string& source,
                       const std::vector<std::string>& overrides) {
  if (size_t bad = 0; !is_valid_utf8(text, &bad))
    throw Error("config error: " + (source.empty() ? std::string("<config>") : source) +
                    ": not UTF-8 text (byte " + std::to_string(bad) + ")",
                "save the config as UTF-8");
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    throw Error("config error: " + (source.empty() ? "<config>" : source) + ":" +
                    std::to_string(e.mark.line + 1) + ": invalid YAML: " + e.msg,
                "check the indentation and the ':' after each key");
  }
  if (is_null(root)) root = YAML::Node(YAML::NodeType::Map);
  const Ctx ctx{source, overrides};
  if (!root.IsMap()) fail(ctx, root, "<top>", "the config must be a mapping of sections");
  {
    const std::vector<std::string> no_overrides;  // the file's own lines, before --set applies
    size_t budget = kMaxConfigValues;
    check_unique_keys(Ctx{source, no_overrides}, root, "", 0, budget);
  }
  for (const auto& o : overrides) apply_override(root, o);

  RunConfig cfg = default_config();
  cfg.source = source;
  // A value of the wrong type: the error names it, the hint says what the key takes.
  auto read_field = [&](const Field& f, const YAML::Node& n) {
    try {
      f.read(cfg, ctx, n);
    } catch (const Error& e) {
      if (!e.hint().empty()) throw;
      throw Error(e.what(), field_hint(f.path));
    }
  };
  for (const auto& kv : root) {
    const std::string key = kv.first.Scalar();
    if (const Field* f = find_field(key)) {
      read_field(*f, kv.second);
    } else if (is_section(key)) {
      if (is_null(kv.second)) continue;
      if (!kv.second.IsMap())
        fail(ctx, kv.second, key, "expected a mapping",
             "write the section's keys under it, e.g. " + key + ": {" + keys_under(key)[0] +
                 ": ...}");
      for (const auto& skv : kv.second) {
        const std::string path = key + "." + skv.first.Scalar();
        const Field* sf = find_field(path);
        if (!sf) unknown_key(ctx, skv.first, key, skv.first.Scalar());
        read_field(*sf, skv.second);
      }
    } else {
      unknown_key(ctx, kv.first, "", key);
    }
  }
  // Cross-field checks, naming the key, where it was set and what it takes.
  const YAML::Node& const_root = root;
  // The value's node, for its line: its section's for a key that is missing, an undefined node
  // when a default is at fault. Returned by value: yaml-cpp's Node::operator= assigns through to
  // the referenced node and throws when its right-hand side is the zombie node that a const
  // lookup of a missing key gives.
  auto node_of = [&](const std::string& path) -> YAML::Node {
    const size_t dot = path.find('.');
    const YAML::Node section = const_root[path.substr(0, dot)];
    if (!section.IsDefined()) return YAML::Node(YAML::NodeType::Undefined);
    if (dot == std::string::npos || !section.IsMap()) return section;
    const YAML::Node value = section[path.substr(dot + 1)];
    return value.IsDefined() ? value : section;
  };
  auto check = [&](bool ok, const std::string& path, const std::string& what) {
    if (!ok) fail(ctx, node_of(path), path, what, field_hint(path));
  };
  const std::vector<std::string> datasets = {"fashion_mnist", "fashion_mnist_segmentation",
                                             "image_folder",  "segmentation_folder",
                                             "tensor_files",  "synthetic"};
  check(std::find(datasets.begin(), datasets.end(), cfg.data.dataset) != datasets.end(),
        "data.dataset",
        "expected fashion_mnist, fashion_mnist_segmentation, image_folder, segmentation_folder, "
        "tensor_files or synthetic, got '" +
            cfg.data.dataset + "'");
  check(cfg.data.workers >= -1, "data.workers", "must be >= 0 (or -1: as the dataset needs)");
  check(cfg.data.num_classes >= 0, "data.num_classes", "must be >= 0");
  check(cfg.data.color_mode == "rgb" || cfg.data.color_mode == "gray", "data.color_mode",
        "expected rgb or gray, got '" + cfg.data.color_mode + "'");
  check(cfg.data.dataset != "segmentation_folder" || cfg.data.num_classes > 0, "data.num_classes",
        "a segmentation_folder dataset needs its number of classes (the masks' values are "
        "0 .. num_classes-1, and ignore_index)");
  for (const char* key : {"data.train_transforms", "data.val_transforms"}) {
    const Value& list = std::string(key) == "data.train_transforms" ? cfg.data.train_transforms
                                                                    : cfg.data.val_transforms;
    try {
      data::parse_transforms(list, key);
    } catch (const Error& e) {
      // e.what() names the list and the transform ("data.train_transforms[1].randomcrop: ...").
      throw Error("config error: " + where(ctx, node_of(key), key) + ": " + e.what(), e.hint());
    }
  }
  check(cfg.data.batch_size > 0, "data.batch_size", "must be positive");
  check(cfg.data.eval_batch_size >= 0, "data.eval_batch_size",
        "must be positive (or 0: data.batch_size)");
  check(cfg.data.random_crop_padding >= 0, "data.random_crop_padding", "must be >= 0 (0: off)");
  check(cfg.training.max_steps_per_epoch >= 0, "training.max_steps_per_epoch",
        "must be >= 0 (0: no cap)");
  check(cfg.data.synthetic_train_size > 0, "data.synthetic_train_size", "must be positive");
  check(cfg.data.synthetic_test_size > 0, "data.synthetic_test_size", "must be positive");
  check(cfg.data.synthetic_classes > 0, "data.synthetic_classes", "must be positive");
  check(!cfg.data.synthetic_shape.empty(), "data.synthetic_shape",
        "must name the example's sizes, e.g. [1, 8, 8]");
  for (int64_t size : cfg.data.synthetic_shape)
    check(size > 0, "data.synthetic_shape", "every size must be positive");
  check(cfg.training.epochs > 0, "training.epochs", "must be positive");
  check(cfg.training.threads > 0, "training.threads", "must be positive");
  check(cfg.training.log_every > 0, "training.log_every", "must be positive");
  check(cfg.training.device == "auto" || cfg.training.device == "cpu" ||
            cfg.training.device.rfind("cuda", 0) == 0,
        "training.device", "expected auto, cpu or cuda, got '" + cfg.training.device + "'");
  check(cfg.training.precision == "fp32" || cfg.training.precision == "bf16" ||
            cfg.training.precision == "fp16",
        "training.precision", "expected fp32, bf16 or fp16, got '" + cfg.training.precision + "'");
  check(!(cfg.training.precision == "fp16" && cfg.training.device == "cpu"), "training.precision",
        "fp16 needs training.device: cuda (autocast on the CPU takes bf16 only, as PyTorch's)");
  check(cfg.distributed.backend == "auto" || cfg.distributed.backend == "mpi" ||
            cfg.distributed.backend == "nccl",
        "distributed.backend", "expected auto, mpi or nccl");
  check(cfg.distributed.bucket_cap_mb > 0, "distributed.bucket_cap_mb", "must be positive");
  check(cfg.training.clip_grad_norm >= 0 && std::isfinite(cfg.training.clip_grad_norm),
        "training.clip_grad_norm", "must be 0 (off) or a positive number");
  check(cfg.checkpoint.monitor == "accuracy" || cfg.checkpoint.monitor == "loss" ||
            cfg.checkpoint.monitor == "iou" || cfg.checkpoint.monitor == "dice",
        "checkpoint.monitor", "expected accuracy, loss, iou or dice");
  check(cfg.checkpoint.mode == "max" || cfg.checkpoint.mode == "min", "checkpoint.mode",
        "expected max or min");
  check(cfg.loss.label_smoothing >= 0 && cfg.loss.label_smoothing <= 1, "loss.label_smoothing",
        "must be in [0, 1]");
  for (double w : cfg.loss.weight) check(w >= 0, "loss.weight", "class weights must be >= 0");
  check(cfg.checkpoint.every_epochs > 0, "checkpoint.every_epochs", "must be positive");
  check(cfg.checkpoint.keep_last >= 0, "checkpoint.keep_last", "must be >= 0");
  check(cfg.data.mean.size() == cfg.data.std.size(), "data.std",
        "must have as many values as data.mean");
  check(cfg.model.is_dict() && cfg.model.contains("name") && cfg.model.at("name").is_string(),
        "model.name", "missing: give a zoo name or 'sequential'");
  check(cfg.optimizer.is_dict() && cfg.optimizer.contains("name"), "optimizer.name",
        "missing (sgd, adam or adamw)");
  check(cfg.scheduler.is_none() || (cfg.scheduler.is_dict() && cfg.scheduler.contains("name")),
        "scheduler.name", "missing (e.g. cosineannealinglr)");
  return cfg;
}

RunConfig load_config(const std::string& path, const std::vector<std::string>& overrides) {
  const char* const example =
      "give the path of a YAML run config, e.g. configs/fashion_mnist_cnn.yaml";
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (status.type() == std::filesystem::file_type::not_found)
    throw Error("config file not found: " + path, example);
  // A directory opens as an ifstream on Linux and reads as nothing: without this check it would
  // be an empty config, and the run would train the defaults.
  if (std::filesystem::is_directory(status))
    throw Error("config file " + path + " is a directory, not a YAML file", example);
  // fread and ferror, not an ifstream: a stream's read error looks like the end of the file, so
  // a failing read would pass as a short or empty config.
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f)
    throw Error("cannot read config file " + path + ": " + std::strerror(errno),
                "check the file's permissions");
  std::string text;
  char buffer[65536];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, f)) > 0) text.append(buffer, n);
  const bool failed = std::ferror(f);
  const int read_errno = errno;
  std::fclose(f);
  if (failed)
    throw Error("cannot read config file " + path + ": " + std::strerror(read_errno),
                "check the file and its permissions");
  return parse_config(text, path, overrides);
}

Error locate_config_error(const RunConfig& cfg, const std::string& section, const Error& e) {
  const std::string message = e.what();
  const auto origin = [&](std::string path) -> std::string {
    // The nearest recorded value: the path itself, else the mapping or list above it (a missing
    // key's error names the key, which has no node).
    for (;;) {
      if (const auto it = cfg.value_origins.find(path); it != cfg.value_origins.end())
        return it->second;
      const size_t cut = path.find_last_of(".[");
      if (cut == std::string::npos) return cfg.source.empty() ? "<config>" : cfg.source;
      path.resize(cut);
    }
  };
  std::string hint = e.hint();
  if (hint.empty())
    hint = section == "model" ? "the layers' arguments and limits are torch.nn's"
           : section == "optimizer"
               ? "the optimizer's arguments and limits are torch.optim's"
               : "the scheduler's arguments and limits are torch.optim.lr_scheduler's";
  const size_t colon = message.find(": ");
  const std::string path = colon == std::string::npos ? "" : message.substr(0, colon);
  if (path == section || path.rfind(section + ".", 0) == 0 || path.rfind(section + "[", 0) == 0)
    return Error("config error: " + origin(path) + ": " + message, hint);
  // A message in PyTorch's words ("Invalid momentum value: -1"): the section is the place.
  return Error("config error: " + origin(section) + ": " + section + ": " + message, hint);
}

std::string to_yaml(const RunConfig& cfg) {
  YAML::Node root(YAML::NodeType::Map);
  for (const auto& f : schema()) {
    const size_t dot = f.path.find('.');
    if (dot == std::string::npos) {
      root[f.path] = f.write(cfg);
    } else {
      root[f.path.substr(0, dot)][f.path.substr(dot + 1)] = f.write(cfg);
    }
  }
  YAML::Emitter out;
  out << root;
  return std::string(out.c_str()) + "\n";
}

namespace {

void flatten(const YAML::Node& n, const std::string& path,
             std::vector<std::pair<std::string, std::string>>& out) {
  if (n.IsMap() && n.size() > 0) {
    for (const auto& kv : n) flatten(kv.second, path + "." + kv.first.Scalar(), out);
  } else if (n.IsSequence() && n.size() > 0) {
    for (size_t i = 0; i < n.size(); ++i) flatten(n[i], path + "[" + std::to_string(i) + "]", out);
  } else {
    // Numbers in their shortest form (0.1, not the emitter's 0.10000000000000001).
    int64_t i;
    double d;
    if (n.IsScalar() && !parse_int(n.Scalar(), i) && parse_double(n.Scalar(), d) &&
        std::isfinite(d)) {
      char text[32];
      const auto end = std::to_chars(text, text + sizeof text, d).ptr;
      out.emplace_back(path, std::string(text, end));
      return;
    }
    YAML::Emitter e;
    e << YAML::Flow << n;
    out.emplace_back(path, e.c_str());
  }
}

}  // namespace

bool is_rank_local_key(const std::string& path) {
  return path == "data.root" || path == "data.prefetch" || path == "training.threads";
}

std::vector<std::pair<std::string, std::string>> config_entries(const RunConfig& cfg,
                                                                bool rank_local) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& f : schema())
    if (rank_local || !is_rank_local_key(f.path)) flatten(f.write(cfg), f.path, out);
  return out;
}

std::string config_reference() {
  std::ostringstream os;
  RunConfig defaults = parse_config("{}", "");
  YAML::Emitter e;
  for (const auto& f : schema()) {
    YAML::Emitter v;
    v << YAML::Flow << f.write(defaults);
    os << f.path << " (default: " << v.c_str() << ")\n    " << f.doc
       << (is_rank_local_key(f.path) ? " (may differ between the ranks of a job)" : "") << "\n";
  }
  return os.str();
}

}  // namespace tandem::launch
