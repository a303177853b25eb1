// Prefix reconciliation and state_dict discovery.
#include "framework/io/state_dict_utils.h"

namespace tandem::io {
namespace {

constexpr const char* kModule = "module.";

// Number of leading "module." segments every key shares (0 if the keys disagree or it is empty).
size_t common_module_depth(const std::vector<std::string>& keys) {
  if (keys.empty()) return 0;
  size_t depth = SIZE_MAX;
  for (const auto& k : keys) {
    size_t d = 0;
    while (k.compare(d * 7, 7, kModule) == 0) ++d;
    depth = std::min(depth, d);
  }
  return depth;
}

std::string repeat_module(size_t n) {
  std::string s;
  for (size_t i = 0; i < n; ++i) s += kModule;
  return s;
}

bool is_tensor_dict(const Value& v) {
  if (!v.is_dict() || v.size() == 0) return false;
  for (const auto& [k, x] : v.dict_items())
    if (!k.is_string() || !x.is_tensor()) return false;
  return true;
}

}  // namespace

StateDict strip_prefix(const StateDict& sd, const std::string& prefix) {
  StateDict out;
  for (const auto& [k, t] : sd) out.set(k.rfind(prefix, 0) == 0 ? k.substr(prefix.size()) : k, t);
  return out;
}

StateDict add_prefix(const StateDict& sd, const std::string& prefix) {
  StateDict out;
  for (const auto& [k, t] : sd) out.set(k.rfind(prefix, 0) == 0 ? k : prefix + k, t);
  return out;
}

StateDict reconcile_prefixes(const StateDict& sd, const std::vector<std::string>& target_keys) {
  const size_t have = common_module_depth(sd.keys());
  const size_t want = common_module_depth(target_keys);
  if (have == want) return sd;
  StateDict out;
  const std::string add = repeat_module(want > have ? want - have : 0);
  for (const auto& [k, t] : sd) out.set(want > have ? add + k : k.substr(7 * (have - want)), t);
  return out;
}

StateDict find_state_dict(const Value& v, const std::string& path) {
  if (is_tensor_dict(v)) {
    StateDict sd;
    for (const auto& [k, x] : v.dict_items()) sd.set(k.to_string(), x.to_tensor());
    return sd;
  }
  if (v.is_dict()) {
    for (const char* key : {"state_dict", "model_state_dict", "model"})
      if (const Value* inner = v.find(Value(key)); inner && is_tensor_dict(*inner))
        return find_state_dict(*inner, path);
  }
  std::string found;  // the first keys (a hostile file may have millions)
  if (v.is_dict()) {
    size_t shown = 0;
    for (const auto& [k, x] : v.dict_items()) {
      if (shown++ == 20) {
        found += ", ... (" + std::to_string(v.size() - 20) + " more)";
        break;
      }
      found += (found.empty() ? "" : ", ") + k.repr(100) + ": " + x.kind();
    }
  }
  throw Error(
      path + ": no state_dict found (top level: " +
          (found.empty() ? std::string(v.kind()) : "{" + found + "}") + ")",
      "expected a dict of tensors, or one under 'state_dict', 'model_state_dict' or 'model'");
}

}  // namespace tandem::io
