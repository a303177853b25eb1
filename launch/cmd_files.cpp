// `tandem inspect PATH [--json]` and `tandem convert IN OUT [--strip-prefix P] [--add-prefix P]
// [--dtype D]`:
// look into and convert between tandem checkpoints, safetensors and PyTorch .pt/.pth files.
#include <cstdio>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <unordered_map>

#include "framework/io/checkpoint.h"
#include "framework/io/safetensors.h"
#include "framework/io/serialize.h"
#include "framework/io/torch_file.h"
#include "framework/io/value_json.h"
#include "launch/cli.h"

namespace tandem::launch {
namespace {

using json = nlohmann::ordered_json;

std::string ext_of(const std::string& path) {
  return std::filesystem::path(path).extension().string();
}

// The non-tensor values of a file by path, in order; a repeated path keeps its first place and
// its last value (as json's operator[] did, without its linear search per insertion).
struct Values {
  std::vector<std::pair<std::string, json>> items;
  std::unordered_map<std::string, size_t> index;
  void set(std::string path, json value) {
    auto [it, inserted] = index.try_emplace(path, items.size());
    if (inserted)
      items.emplace_back(std::move(path), std::move(value));
    else
      items[it->second].second = std::move(value);
  }
  json to_json() const {
    json out = json::object();
    for (const auto& [k, v] : items) io::append_member(out, k, v);
    return out;
  }
};

// Every tensor in a Value tree with its path ("state_dict.fc.weight", "optimizer.state.0.exp_avg").
// Readers bound the tree (depth, shared containers), so this walk is bounded too.
void collect(const Value& v, const std::string& path, json& tensors, Values& values) {
  if (v.is_tensor()) {
    const Tensor& t = v.to_tensor();
    tensors.push_back({{"name", path}, {"dtype", dtype_name(t.dtype())}, {"shape", t.sizes()}});
  } else if (v.is_dict()) {
    for (const auto& [k, x] : v.dict_items())
      collect(x,
              path.empty() ? (k.is_string() ? k.to_string() : k.repr())
                           : path + "." + (k.is_string() ? k.to_string() : k.repr()),
              tensors, values);
  } else if (v.is_list() || v.is_tuple()) {
    for (size_t i = 0; i < v.items().size(); ++i)
      collect(v.items()[i], path + "." + std::to_string(i), tensors, values);
  } else {
    values.set(path.empty() ? "value" : path, v.repr());
  }
}

json describe(const std::string& path) {
  json out = {{"file", path}};
  json tensors = json::array();
  Values values;
  if (io::is_tandem_checkpoint(path)) {
    io::Checkpoint ck = io::load_checkpoint(path);
    out["format"] = "tandem checkpoint (safetensors)";
    for (const auto& [k, t] : ck.model)
      tensors.push_back({{"name", k}, {"dtype", dtype_name(t.dtype())}, {"shape", t.sizes()}});
    values.set("epoch", ck.epoch);
    values.set("global_step", ck.global_step);
    values.set("step_in_epoch", ck.step_in_epoch);
    values.set("best_metric", ck.has_best_metric ? json(ck.best_metric) : json(nullptr));
    values.set("monitor", ck.monitor);
    values.set("is_best", ck.is_best);
    values.set("world_size", ck.world_size);
    values.set("format_version", ck.format_version);
    const Value* groups = ck.optimizer.is_dict() ? ck.optimizer.find("param_groups") : nullptr;
    values.set("optimizer_param_groups", groups && groups->is_list() ? groups->size() : 0);
    values.set("scheduler", ck.scheduler.is_none() ? "none" : "saved");
    const Value* scale = ck.scaler.is_dict() ? ck.scaler.find("scale") : nullptr;
    if (scale && scale->is_number())  // an fp16 run's loss scaler
      values.set("scaler_scale", scale->to_double());
  } else if (io::detect_format(path) == io::FileFormat::Safetensors ||
             (io::detect_format(path) == io::FileFormat::Unknown &&
              ext_of(path) == ".safetensors")) {
    io::Metadata meta;
    auto ts = io::load_safetensors(path, &meta, /*mmap=*/true);
    out["format"] = "safetensors";
    for (const auto& [k, t] : ts)
      tensors.push_back({{"name", k}, {"dtype", dtype_name(t.dtype())}, {"shape", t.sizes()}});
    for (const auto& [k, v] : meta) values.set(k, v);
  } else {
    out["format"] = io::detect_format(path) == io::FileFormat::LegacyTorch
                        ? "torch legacy stream (.pt, before PyTorch 1.6)"
                        : "torch zip (.pt)";
    collect(io::load(path), "", tensors, values);
  }
  out["tensors"] = tensors;
  out["metadata"] = values.to_json();
  return out;
}

// --dtype: the floating type the weights are written in (bf16, fp16, fp32 or PyTorch's names),
// or nullopt without the option.
std::optional<DType> target_dtype(const CommandLine& cl) {
  const std::string d = cl.option("--dtype");
  if (d.empty()) return std::nullopt;
  if (d == "bf16" || d == "bfloat16") return DType::BFloat16;
  if (d == "fp16" || d == "float16" || d == "half") return DType::Float16;
  if (d == "fp32" || d == "float32" || d == "float") return DType::Float32;
  throw Error("tandem convert: --dtype " + d + " is not a floating type tandem writes",
              "use --dtype bf16, fp16 or fp32");
}

// The prefix options, then --dtype: floating tensors (weights, running statistics) in that type,
// integer ones (num_batches_tracked) as they are, as PyTorch's module.to(dtype).
io::StateDict apply_options(io::StateDict sd, const CommandLine& cl) {
  if (const std::string p = cl.option("--strip-prefix"); !p.empty()) sd = io::strip_prefix(sd, p);
  if (const std::string p = cl.option("--add-prefix"); !p.empty()) sd = io::add_prefix(sd, p);
  if (const auto dtype = target_dtype(cl)) {
    io::StateDict out;
    for (const auto& [k, t] : sd) out.insert(k, is_floating(t.dtype()) ? t.to(*dtype) : t);
    sd = std::move(out);
  }
  return sd;
}

}  // namespace

int cmd_inspect(const CommandLine& cl) {
  if (cl.positional.size() != 1)
    throw Error("tandem inspect expects one PATH", "usage: tandem inspect PATH [--json]");
  const json d = describe(cl.positional[0]);
  if (cl.has_flag("--json")) {
    std::printf("%s\n", d.dump().c_str());
    return 0;
  }
  std::printf("%s: %s, %zu tensors\n", cl.positional[0].c_str(),
              d["format"].get<std::string>().c_str(), d["tensors"].size());
  for (const auto& t : d["tensors"])
    std::printf("  %-50s %-9s %s\n", t["name"].get<std::string>().c_str(),
                t["dtype"].get<std::string>().c_str(), t["shape"].dump().c_str());
  for (const auto& [k, v] : d["metadata"].items())
    std::printf(
        "  %s: %s\n", k.c_str(),
        v.is_string() && v.get<std::string>().size() > 200 ? "<long text>" : v.dump().c_str());
  return 0;
}

int cmd_convert(const CommandLine& cl) {
  if (cl.positional.size() != 2)
    throw Error("tandem convert expects IN and OUT",
                "usage: tandem convert IN OUT [--strip-prefix P] [--add-prefix P] [--dtype D]");
  const std::string in = cl.positional[0], out = cl.positional[1];
  const std::string out_ext = ext_of(out);
  if (out_ext != ".pt" && out_ext != ".pth" && out_ext != ".safetensors")
    throw Error("tandem convert: cannot write '" + out + "'",
                "OUT must end in .pt, .pth or .safetensors");
  if (std::filesystem::exists(out) && std::filesystem::equivalent(in, out))
    throw Error("tandem convert: IN and OUT are the same file (" + in + ")",
                "give OUT another path; its extension (.pt, .pth, .safetensors) picks the format");
  if (io::is_tandem_checkpoint(in)) {
    io::Checkpoint ck = io::load_checkpoint(in);
    ck.model = apply_options(ck.model, cl);
    if (out_ext == ".safetensors")
      io::save_safetensors(out, ck.model);
    else
      io::save_checkpoint(ck, out);  // PyTorch's checkpoint dict
  } else {
    io::save(apply_options(io::load_state_dict(in), cl), out);
  }
  std::printf("wrote %s\n", out.c_str());
  return 0;
}

}  // namespace tandem::launch
