// Checkpoint <-> safetensors (see checkpoint.h).
#include "framework/io/checkpoint.h"

#include <zlib.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>

#include "framework/io/safetensors.h"
#include "framework/io/value_json.h"

namespace tandem::io {
namespace {

using json = nlohmann::ordered_json;
constexpr const char* kFormat = "tandem-checkpoint";

// CRC32 over every tensor's name and bytes, in name order (independent of the file layout).
std::string checksum(const TensorMap& tensors) {
  std::vector<std::pair<std::string, Tensor>> items(tensors.begin(), tensors.end());
  std::sort(items.begin(), items.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  uLong crc = crc32(0L, Z_NULL, 0);
  for (const auto& [name, t] : items) {
    crc = crc32(crc, reinterpret_cast<const Bytef*>(name.data()), uInt(name.size()));
    Tensor c = t.cpu().contiguous();
    const auto* p = static_cast<const Bytef*>(c.raw_data());
    size_t left = c.nbytes();
    while (left > 0) {  // zlib takes uInt lengths
      const uInt chunk = uInt(std::min<size_t>(left, 1u << 30));
      crc = crc32(crc, p, chunk);
      p += chunk;
      left -= chunk;
    }
  }
  return std::to_string(crc);
}

// __metadata__ of a safetensors file without reading its tensors (empty if not safetensors).
Metadata read_metadata(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return {};
  uint8_t len_bytes[8];
  if (!f.read(reinterpret_cast<char*>(len_bytes), 8)) return {};
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | len_bytes[i];
  if (n > 100'000'000) return {};
  std::string header(n, '\0');
  if (!f.read(header.data(), std::streamsize(n))) return {};
  auto j = json::parse(header, nullptr, /*allow_exceptions=*/false);
  Metadata m;
  if (j.is_object() && j.contains("__metadata__") && j["__metadata__"].is_object())
    for (const auto& [k, v] : j["__metadata__"].items())
      if (v.is_string()) m[k] = v.get<std::string>();
  return m;
}

}  // namespace

bool is_tandem_checkpoint(const std::string& path) {
  const Metadata m = read_metadata(path);
  auto it = m.find("format");
  return it != m.end() && it->second == kFormat;
}

void save_checkpoint(const Checkpoint& ck, const std::string& path) {
  TensorMap tensors;
  json model_keys = json::array();
  for (const auto& [k, t] : ck.model) {
    tensors.insert("model/" + k, t);
    model_keys.push_back(k);
  }
  json meta;
  meta["format_version"] = ck.format_version;
  meta["epoch"] = ck.epoch;
  meta["global_step"] = ck.global_step;
  meta["step_in_epoch"] = ck.step_in_epoch;
  if (ck.step_in_epoch > 0) meta["epoch_loss"] = {ck.epoch_loss_sum, ck.epoch_loss_count};
  meta["best_metric"] = ck.has_best_metric ? json(ck.best_metric) : json(nullptr);
  meta["is_best"] = ck.is_best;
  meta["monitor"] = ck.monitor;
  meta["world_size"] = ck.world_size;
  meta["rng"] = ck.rng;
  meta["model_keys"] = model_keys;
  meta["optimizer"] = value_to_json(ck.optimizer, "optimizer", tensors);
  meta["scheduler"] = value_to_json(ck.scheduler, "scheduler", tensors);
  meta["config"] = ck.config_yaml;
  Metadata m;
  m["format"] = kFormat;
  m["tandem"] = meta.dump();
  m["crc32"] = checksum(tensors);
  save_safetensors(path, tensors, m);
}

Checkpoint load_checkpoint(const std::string& path) {
  Metadata m;
  TensorMap tensors = load_safetensors(path, &m);
  if (m.count("format") == 0 || m["format"] != kFormat)
    throw Error(path + " is not a tandem checkpoint (no tandem metadata)",
                "use it as init_from (weights only), or convert it with `tandem convert`");
  if (m.count("crc32") == 0 || m["crc32"] != checksum(tensors))
    throw Error(path + ": checksum mismatch: the checkpoint is corrupted",
                "resume from an older epoch_NNNN.safetensors");
  json meta;
  try {
    meta = json::parse(m["tandem"]);
  } catch (const json::exception& e) {
    throw Error(path + ": corrupted checkpoint metadata: " + e.what());
  }
  Checkpoint ck;
  try {
    ck.format_version = meta.at("format_version").get<int64_t>();
    if (ck.format_version > kCheckpointFormatVersion)
      throw Error(path + ": checkpoint format version " + std::to_string(ck.format_version) +
                      " is newer than this tandem understands (" +
                      std::to_string(kCheckpointFormatVersion) + ")",
                  "upgrade tandem");
    ck.epoch = meta.at("epoch").get<int64_t>();
    ck.global_step = meta.at("global_step").get<int64_t>();
    ck.step_in_epoch = meta.at("step_in_epoch").get<int64_t>();
    if (meta.contains("epoch_loss")) {  // absent in end-of-epoch saves and older files
      ck.epoch_loss_sum = meta["epoch_loss"].at(0).get<double>();
      ck.epoch_loss_count = meta["epoch_loss"].at(1).get<double>();
    }
    ck.has_best_metric = !meta.at("best_metric").is_null();
    ck.best_metric = ck.has_best_metric ? meta["best_metric"].get<double>() : 0.0;
    ck.is_best = meta.at("is_best").get<bool>();
    ck.monitor = meta.at("monitor").get<std::string>();
    ck.world_size = meta.at("world_size").get<int64_t>();
    ck.rng = meta.at("rng").get<std::map<std::string, std::string>>();
    ck.config_yaml = meta.at("config").get<std::string>();
    for (const auto& k : meta.at("model_keys")) {
      const std::string key = k.get<std::string>();
      const Tensor* t = tensors.find("model/" + key);
      if (!t) throw Error(path + ": model tensor '" + key + "' is missing");
      ck.model.insert(key, *t);
    }
    ck.optimizer = value_from_json(meta.at("optimizer"), tensors);
    ck.scheduler = value_from_json(meta.at("scheduler"), tensors);
  } catch (const json::exception& e) {
    throw Error(path + ": corrupted checkpoint metadata: " + e.what());
  }
  return ck;
}

}  // namespace tandem::io
