// Checkpoint <-> safetensors, and <-> PyTorch's checkpoint dict in .pt files (see checkpoint.h).
#include "framework/io/checkpoint.h"

#include <zlib.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "framework/io/safetensors.h"
#include "framework/io/serialize.h"
#include "framework/io/state_dict_utils.h"
#include "framework/io/torch_file.h"
#include "framework/io/value_json.h"

namespace tandem::io {
namespace {

using json = nlohmann::ordered_json;
constexpr const char* kFormat = "tandem-checkpoint";
constexpr const char* kHint = "resume from an older epoch_NNNN.safetensors";

uLong crc_bytes(uLong crc, const void* data, size_t n) {
  const auto* p = static_cast<const Bytef*>(data);
  while (n > 0) {  // zlib takes uInt lengths
    const uInt chunk = uInt(std::min<size_t>(n, 1u << 30));
    crc = crc32(crc, p, chunk);
    p += chunk;
    n -= chunk;
  }
  return crc;
}

// CRC32 over every tensor's name and bytes, in name order (independent of the file layout).
// Format 1 checked only this ("crc32").
uLong tensor_crc(const TensorMap& tensors) {
  std::vector<std::pair<std::string, Tensor>> items(tensors.begin(), tensors.end());
  std::sort(items.begin(), items.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  uLong crc = crc32(0L, Z_NULL, 0);
  for (const auto& [name, t] : items) {
    crc = crc_bytes(crc, name.data(), name.size());
    Tensor c = t.cpu().contiguous();
    crc = crc_bytes(crc, c.raw_data(), c.nbytes());
  }
  return crc;
}

// Format 2's "checksum": the tensor CRC continued over every other metadata entry (key, NUL,
// value, NUL in key order), so an edited or damaged epoch, optimizer state or config is caught
// as surely as a damaged tensor.
std::string full_checksum(uLong tensors_crc, const Metadata& m) {
  uLong crc = tensors_crc;
  for (const auto& [k, v] : m) {
    if (k == "checksum") continue;
    crc = crc_bytes(crc, k.data(), k.size() + 1);  // with the terminating NUL
    crc = crc_bytes(crc, v.data(), v.size() + 1);
  }
  return "crc32:" + std::to_string(crc);
}

// Typed access to the metadata fields, each error naming the file and the field.
class Fields {
 public:
  Fields(const Value& meta, const std::string& path) : meta_(meta), path_(path) {}
  const Value* find(const char* key) const { return meta_.find(Value(key)); }
  const Value& get(const char* key) const {
    const Value* v = meta_.find(Value(key));
    if (!v) fail(key, "is missing");
    return *v;
  }
  int64_t integer(const char* key, int64_t min, int64_t max) const {
    const Value& v = get(key);
    if (!v.is_int() || v.to_int() < min || v.to_int() > max)
      fail(key, "expected an integer in [" + std::to_string(min) + ", " + std::to_string(max) +
                    "], got " + v.repr(100));
    return v.to_int();
  }
  const std::string& text(const char* key) const {
    const Value& v = get(key);
    if (!v.is_string()) fail(key, std::string("expected a string, got a ") + v.kind());
    return v.to_string();
  }
  bool flag(const char* key) const {
    const Value& v = get(key);
    if (!v.is_bool()) fail(key, std::string("expected true or false, got a ") + v.kind());
    return v.to_bool();
  }
  [[noreturn]] void fail(const std::string& key, const std::string& what) const {
    throw Error(path_ + ": checkpoint field '" + key + "': " + what,
                "the checkpoint is corrupted or was edited; " + std::string(kHint));
  }

 private:
  const Value& meta_;
  const std::string& path_;
};

}  // namespace

bool is_tandem_checkpoint(const std::string& path) {
  try {
    const Metadata m = read_safetensors_metadata(path);
    auto it = m.find("format");
    return it != m.end() && it->second == kFormat;
  } catch (const Error&) {
    return false;  // not a (valid) safetensors file: not a tandem checkpoint either
  }
}

namespace {

void save_tandem_checkpoint(const Checkpoint& ck, const std::string& path) {
  TensorMap tensors;
  json model_keys = json::array();
  for (const auto& [k, t] : ck.model) {
    tensors.insert("model/" + k, t);
    model_keys.push_back(k);
  }
  json meta;
  meta["format_version"] = kCheckpointFormatVersion;
  meta["epoch"] = ck.epoch;
  meta["global_step"] = ck.global_step;
  meta["step_in_epoch"] = ck.step_in_epoch;
  if (ck.step_in_epoch > 0) meta["epoch_loss"] = {ck.epoch_loss_sum, ck.epoch_loss_count};
  meta["best_metric"] = ck.has_best_metric ? json(ck.best_metric) : json(nullptr);
  meta["is_best"] = ck.is_best;
  meta["monitor"] = ck.monitor;
  if (!ck.mode.empty()) meta["mode"] = ck.mode;
  meta["world_size"] = ck.world_size;
  if (ck.steps_per_epoch > 0) meta["steps_per_epoch"] = ck.steps_per_epoch;
  meta["rng"] = ck.rng;
  meta["model_keys"] = model_keys;
  meta["optimizer"] = value_to_json(ck.optimizer, "optimizer", tensors);
  meta["scheduler"] = value_to_json(ck.scheduler, "scheduler", tensors);
  if (!ck.scaler.is_none()) meta["scaler"] = value_to_json(ck.scaler, "scaler", tensors);
  meta["config"] = ck.config_yaml;
  Metadata m;
  m["format"] = kFormat;
  try {
    m["tandem"] = meta.dump();
  } catch (const json::exception& e) {
    throw Error(path + ": cannot write the checkpoint metadata: " + e.what(),
                "config values and state keys must be UTF-8 text");
  }
  const uLong crc = tensor_crc(tensors);
  m["crc32"] = std::to_string(crc);  // format 1's check: older tandems then report the version
  m["checksum"] = full_checksum(crc, m);
  save_safetensors(path, tensors, m);
}

Checkpoint load_tandem_checkpoint(const std::string& path) {
  Metadata m;
  TensorMap tensors = load_safetensors(path, &m);
  if (m.count("format") == 0 || m["format"] != kFormat)
    throw Error(path + " is not a tandem checkpoint (no tandem metadata)",
                "use it as init_from (weights only), or convert it with `tandem convert`");
  const uLong crc = tensor_crc(tensors);
  if (m.count("crc32") == 0 || m["crc32"] != std::to_string(crc))
    throw Error(path + ": checksum mismatch: the checkpoint's tensor data is corrupted", kHint);
  // Format 2 also checks the metadata; format 1 files (no "checksum") load with their
  // metadata validated field by field below but not checksummed.
  const bool has_checksum = m.count("checksum") != 0;
  if (has_checksum && m["checksum"] != full_checksum(crc, m))
    throw Error(path + ": checksum mismatch: the checkpoint's metadata is corrupted", kHint);
  if (m.count("tandem") == 0) throw Error(path + ": the tandem metadata is missing", kHint);
  const Value meta = value_from_json(m["tandem"], tensors, path + " (metadata)");
  if (!meta.is_dict()) throw Error(path + ": corrupted checkpoint metadata", kHint);
  const Fields f(meta, path);
  Checkpoint ck;
  ck.format_version = f.integer("format_version", 1, INT64_MAX);
  if (ck.format_version > kCheckpointFormatVersion)
    throw Error(path + ": checkpoint format version " + std::to_string(ck.format_version) +
                    " is newer than this tandem understands (" +
                    std::to_string(kCheckpointFormatVersion) + ")",
                "upgrade tandem");
  if (ck.format_version >= 2 && !has_checksum)
    f.fail("checksum", "is missing (format 2 checksums its metadata)");
  // Counters far beyond any run, and far from overflowing when the trainer counts on from them.
  constexpr int64_t kMaxCount = int64_t(1) << 53;
  ck.epoch = f.integer("epoch", 0, kMaxCount);
  ck.global_step = f.integer("global_step", 0, kMaxCount);
  ck.step_in_epoch = f.integer("step_in_epoch", 0, kMaxCount);
  // The partial epoch's training loss (sum, count), in a mid-epoch save only.
  if (const Value* loss = meta.find(Value("epoch_loss"))) {
    if (!loss->is_list() || loss->items().size() != 2 || !loss->items()[0].is_number() ||
        !loss->items()[1].is_number() || loss->items()[1].to_double() < 0)
      f.fail("epoch_loss", "expected [loss sum, sample count]");
    ck.epoch_loss_sum = loss->items()[0].to_double();
    ck.epoch_loss_count = loss->items()[1].to_double();
  }
  const Value& best = f.get("best_metric");
  if (!best.is_none() && !best.is_number()) f.fail("best_metric", "expected a number or null");
  ck.has_best_metric = !best.is_none();
  ck.best_metric = ck.has_best_metric ? best.to_double() : 0.0;
  ck.is_best = f.flag("is_best");
  ck.monitor = f.text("monitor");
  ck.world_size = f.integer("world_size", 1, INT32_MAX);
  // Recorded since checkpoints say how their best metric compares and how long their epochs
  // were; older files lack them and load as "unknown".
  if (f.find("mode")) {
    ck.mode = f.text("mode");
    if (ck.mode != "max" && ck.mode != "min") f.fail("mode", "expected max or min");
  }
  if (f.find("steps_per_epoch")) ck.steps_per_epoch = f.integer("steps_per_epoch", 1, kMaxCount);
  const Value& rng = f.get("rng");
  if (!rng.is_dict()) f.fail("rng", "expected a dict of strings");
  for (const auto& [k, v] : rng.dict_items()) {
    if (!k.is_string() || !v.is_string()) f.fail("rng", "expected a dict of strings");
    ck.rng[k.to_string()] = v.to_string();
  }
  ck.config_yaml = f.text("config");
  const Value& keys = f.get("model_keys");
  if (!keys.is_list()) f.fail("model_keys", "expected a list of names");
  for (const auto& k : keys.items()) {
    if (!k.is_string()) f.fail("model_keys", "expected a list of names");
    const Tensor* t = tensors.find("model/" + k.to_string());
    if (!t) throw Error(path + ": model tensor '" + k.to_string() + "' is missing", kHint);
    if (ck.model.contains(k.to_string()))
      f.fail("model_keys", "names '" + k.to_string() + "' twice");
    ck.model.insert(k.to_string(), *t);
  }
  ck.optimizer = f.get("optimizer");
  if (!ck.optimizer.is_dict() && !ck.optimizer.is_none())
    f.fail("optimizer", std::string("expected a state_dict, got a ") + ck.optimizer.kind());
  ck.scheduler = f.get("scheduler");
  if (!ck.scheduler.is_dict() && !ck.scheduler.is_none())
    f.fail("scheduler", std::string("expected a state_dict, got a ") + ck.scheduler.kind());
  if (const Value* v = f.find("scaler")) {  // only runs with a loss scaler write it
    if (!v->is_dict()) f.fail("scaler", std::string("expected a state_dict, got a ") + v->kind());
    ck.scaler = *v;
  }
  return ck;
}

bool is_torch_path(const std::string& path) {
  const std::string ext = std::filesystem::path(path).extension().string();
  return ext == ".pt" || ext == ".pth";
}

// The keys a checkpoint dict may hold its best metric under, and the monitor each names.
constexpr std::pair<const char*, const char*> kBestMetricKeys[] = {{"best_metric", ""},
                                                                   {"best_iou", "iou"},
                                                                   {"best_dice", "dice"},
                                                                   {"best_acc", "accuracy"},
                                                                   {"best_loss", "loss"}};

// The first of `keys` that `d` holds, or nullptr.
const Value* find_any(const Value& d, std::initializer_list<const char*> keys) {
  for (const char* k : keys)
    if (const Value* v = d.find(Value(k))) return v;
  return nullptr;
}

// A PyTorch checkpoint dict as a Checkpoint: what it holds of the fields, validated (the file is
// untrusted); the rest keep their defaults.
Checkpoint from_torch_checkpoint(const Value& d, const std::string& path) {
  if (!d.is_dict())
    throw Error(path + ": expected a checkpoint dict, got a " + std::string(d.kind()),
                "save {'epoch': ..., 'state_dict': model.state_dict(), ...} with torch.save");
  auto fail = [&](const std::string& key, const std::string& what) {
    throw Error(path + ": checkpoint field '" + key + "': " + what,
                "the checkpoint is corrupted or was edited");
  };
  Checkpoint ck;
  ck.has_run_position = false;
  ck.model = find_state_dict(d, path);
  if (const Value* v = d.find(Value("epoch"))) {
    if (!v->is_int() || v->to_int() < 0)
      fail("epoch", "expected an integer >= 0, got " + v->repr(100));
    ck.epoch = v->to_int();
  }
  if (const Value* v = find_any(d, {"optimizer", "optimizer_state_dict"})) {
    if (!v->is_dict() && !v->is_none())
      fail("optimizer", std::string("expected a state_dict, got a ") + v->kind());
    ck.optimizer = *v;
  }
  if (const Value* v = find_any(d, {"scheduler", "lr_scheduler", "scheduler_state_dict"})) {
    if (!v->is_dict() && !v->is_none())
      fail("scheduler", std::string("expected a state_dict, got a ") + v->kind());
    ck.scheduler = *v;
  }
  if (const Value* v = find_any(d, {"scaler", "scaler_state_dict"})) {
    if (!v->is_dict() && !v->is_none())
      fail("scaler", std::string("expected a state_dict, got a ") + v->kind());
    ck.scaler = *v;
  }
  // best_metric, and/or the name PyTorch tutorials' dicts give it (best_iou, best_acc, ...),
  // which also says what was monitored.
  for (const auto& [key, monitor] : kBestMetricKeys) {
    const Value* v = d.find(Value(key));
    if (!v || v->is_none()) continue;
    if (!v->is_number()) fail(key, "expected a number or None, got " + v->repr(100));
    ck.best_metric = v->to_double();
    ck.has_best_metric = true;
    if (monitor[0] && ck.monitor.empty()) ck.monitor = monitor;
  }
  if (const Value* v = d.find(Value("is_best"))) {
    if (!v->is_bool()) fail("is_best", std::string("expected True or False, got a ") + v->kind());
    ck.is_best = v->to_bool();
  }
  return ck;
}

}  // namespace

Value to_torch_checkpoint(const Checkpoint& ck) {
  Value d = Value::dict();
  d.set("epoch", Value(ck.epoch));
  d.set("state_dict", Value(ck.model));
  d.set("optimizer", ck.optimizer);
  d.set("scheduler", ck.scheduler);
  if (!ck.scaler.is_none()) d.set("scaler", ck.scaler);
  d.set("best_metric", ck.has_best_metric ? Value(ck.best_metric) : Value());
  // Also under the tutorials' name for the monitored metric (a segmentation run's best_iou).
  for (const auto& [key, monitor] : kBestMetricKeys)
    if (monitor[0] && ck.monitor == monitor && ck.has_best_metric)
      d.set(key, Value(ck.best_metric));
  d.set("is_best", Value(ck.is_best));
  return d;
}

void save_checkpoint(const Checkpoint& ck, const std::string& path) {
  if (is_torch_path(path)) return save_torch(to_torch_checkpoint(ck), path);
  save_tandem_checkpoint(ck, path);
}

Checkpoint load_checkpoint(const std::string& path) {
  // By content, as torch.load: model_best.pth.tar, a name without extension and x.bin load too.
  switch (detect_format(path)) {
    case FileFormat::TorchZip:
    case FileFormat::LegacyTorch:  // refused there with the legacy format's message
      return from_torch_checkpoint(load_torch(path), path);
    case FileFormat::Safetensors:
      return load_tandem_checkpoint(path);
    case FileFormat::Unknown:
      break;
  }
  if (is_torch_path(path)) return from_torch_checkpoint(load_torch(path), path);
  return load_tandem_checkpoint(path);
}

}  // namespace tandem::io
