// Prefix reconciliation and state_dict discovery.
#include "framework/io/state_dict_utils.h"

#include <cstring>
#include <unordered_set>

namespace tandem::io {
namespace {

// The prefixes wrappers add: DistributedDataParallel/DataParallel keep the model as child
// "module", torch.compile's OptimizedModule as "_orig_mod".
constexpr const char* kWrappers[] = {"module.", "_orig_mod."};

// The wrapper segments at the start of `key`, e.g. "_orig_mod.module." of
// "_orig_mod.module.fc.weight".
std::vector<std::string> wrapper_segments(const std::string& key) {
  std::vector<std::string> out;
  size_t pos = 0;
  for (bool found = true; found;) {
    found = false;
    for (const char* w : kWrappers)
      if (key.compare(pos, std::strlen(w), w) == 0) {
        out.emplace_back(w);
        pos += std::strlen(w);
        found = true;
        break;
      }
  }
  return out;
}

// The wrapper segments every key starts with (none for an empty key set).
std::vector<std::string> common_wrappers(const std::vector<std::string>& keys) {
  if (keys.empty()) return {};
  std::vector<std::string> common = wrapper_segments(keys.front());
  for (const auto& k : keys) {
    const std::vector<std::string> mine = wrapper_segments(k);
    size_t n = 0;
    while (n < common.size() && n < mine.size() && common[n] == mine[n]) ++n;
    common.resize(n);
  }
  return common;
}

// segments[from..to) as one prefix.
std::string joined(const std::vector<std::string>& segments, size_t from, size_t to) {
  std::string s;
  for (size_t i = from; i < to; ++i) s += segments[i];
  return s;
}

// "'_orig_mod.module.' (torch.compile, DistributedDataParallel)": which wrappers a prefix is;
// just "'model.'" for another prefix.
std::string named_prefix(const std::string& prefix) {
  std::string names;
  for (const std::string& w : wrapper_segments(prefix)) {
    const char* name = w == "module." ? "DistributedDataParallel" : "torch.compile";
    if (names.find(name) == std::string::npos)
      names += (names.empty() ? "" : ", ") + std::string(name);
  }
  return "'" + prefix + "'" + (names.empty() ? "" : " (" + names + ")");
}

// The first segment ("model.") every key starts with, or "" (none, or no keys).
std::string common_first_segment(const std::vector<std::string>& keys) {
  if (keys.empty()) return "";
  const size_t dot = keys.front().find('.');
  if (dot == std::string::npos) return "";
  const std::string first = keys.front().substr(0, dot + 1);
  for (const auto& k : keys)
    if (k.rfind(first, 0) != 0) return "";
  return first;
}

// Whether `keys` and `target` hold the same keys, in any order.
bool same_keys(const std::vector<std::string>& keys, const std::vector<std::string>& target) {
  if (keys.size() != target.size()) return false;
  const std::unordered_set<std::string> want(target.begin(), target.end());
  for (const auto& k : keys)
    if (!want.count(k)) return false;
  return want.size() == keys.size();
}

// The leading wrapper segments ("module.", "_orig_mod.") the keys share, replaced by the
// target's (see reconcile_prefixes).
StateDict reconcile_wrappers(const StateDict& sd, const std::vector<std::string>& target_keys,
                             PrefixChange* change) {
  const std::vector<std::string> have = common_wrappers(sd.keys());
  const std::vector<std::string> want = common_wrappers(target_keys);
  size_t same = 0;  // leading wrappers both sides share stay
  while (same < have.size() && same < want.size() && have[same] == want[same]) ++same;
  if (same == have.size() && same == want.size()) return sd;
  const std::string kept = joined(have, 0, same);
  const std::string stripped = joined(have, same, have.size());
  const std::string added = joined(want, same, want.size());
  StateDict out;
  for (const auto& [k, t] : sd) out.set(kept + added + k.substr(kept.size() + stripped.size()), t);
  *change = {stripped, added};
  return out;
}

// After the wrappers: the one leading segment the file's keys have and the model's lack (a
// LightningModule's "model.", a training wrapper's "net."), or the reverse, found after the
// wrapper segments both now share, when removing (adding) it makes the two key sets equal.
// Anything short of equal is left for load_state_dict to report.
StateDict reconcile_own_prefix(const StateDict& sd, const std::vector<std::string>& target_keys,
                               PrefixChange* change) {
  if (same_keys(sd.keys(), target_keys)) return sd;
  const std::vector<std::string> wrappers = common_wrappers(target_keys);
  const std::string w = joined(wrappers, 0, wrappers.size());
  std::vector<std::string> core_target;
  for (const auto& k : target_keys) core_target.push_back(k.substr(w.size()));
  StateDict core;
  for (const auto& [k, t] : sd) {
    if (k.rfind(w, 0) != 0) return sd;
    core.set(k.substr(w.size()), t);
  }
  const auto rewrapped = [&](const StateDict& fitted) {
    StateDict out;
    for (const auto& [k, t] : fitted) out.set(w + k, t);
    return out;
  };
  if (const std::string p = common_first_segment(core.keys()); !p.empty()) {
    const StateDict fitted = strip_prefix(core, p);
    if (same_keys(fitted.keys(), core_target)) {
      change->stripped += p;
      return rewrapped(fitted);
    }
  }
  if (const std::string p = common_first_segment(core_target); !p.empty()) {
    StateDict fitted;
    for (const auto& [k, t] : core) fitted.set(p + k, t);
    if (same_keys(fitted.keys(), core_target)) {
      change->added += p;
      return rewrapped(fitted);
    }
  }
  return sd;
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

std::string PrefixChange::describe() const {
  if (empty()) return "";
  if (added.empty()) return "stripped " + named_prefix(stripped) + " from every key";
  if (stripped.empty()) return "added " + named_prefix(added) + " to every key";
  return "stripped " + named_prefix(stripped) + " and added " + named_prefix(added) +
         " on every key";
}

StateDict reconcile_prefixes(const StateDict& sd, const std::vector<std::string>& target_keys,
                             PrefixChange* change) {
  PrefixChange done;
  StateDict out = reconcile_wrappers(sd, target_keys, &done);
  out = reconcile_own_prefix(out, target_keys, &done);
  if (change) *change = done;
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
