// Comparing what the ranks have, and the state digest (see rank_agreement.h).
#include "launch/rank_agreement.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>

#include "parallel/rank_helpers.h"

namespace tandem::launch {
namespace {

// Keys and values travel as "key\0value\0..." (YAML scalars hold no NUL).
std::string encode(const std::vector<std::pair<std::string, std::string>>& entries) {
  std::string out;
  for (const auto& [k, v] : entries) {
    out += k;
    out += '\0';
    out += v;
    out += '\0';
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> decode(const std::string& text) {
  std::vector<std::pair<std::string, std::string>> out;
  size_t at = 0;
  while (at < text.size()) {
    const size_t k_end = text.find('\0', at);
    if (k_end == std::string::npos) break;
    const size_t v_end = text.find('\0', k_end + 1);
    if (v_end == std::string::npos) break;
    out.emplace_back(text.substr(at, k_end - at), text.substr(k_end + 1, v_end - k_end - 1));
    at = v_end + 1;
  }
  return out;
}

std::string shorten(const std::string& value) {
  return value.size() <= 80 ? value : value.substr(0, 77) + "...";
}

}  // namespace

void require_same_on_all_ranks(parallel::ProcessGroup* pg, const std::string& what,
                               const std::vector<std::pair<std::string, std::string>>& entries,
                               const std::string& hint) {
  if (!pg || pg->size() == 1) return;
  const std::vector<std::string> all = parallel::allgather_strings(*pg, encode(entries));
  if (std::all_of(all.begin(), all.end(), [&](const std::string& s) { return s == all[0]; }))
    return;
  // Every rank holds every rank's entries and builds the same message from them.
  std::vector<std::string> keys;                            // in order of first appearance
  std::vector<std::map<std::string, std::string>> by_rank;  // rank -> key -> value
  for (const std::string& text : all) {
    by_rank.emplace_back();
    for (auto& [k, v] : decode(text)) {
      if (std::find(keys.begin(), keys.end(), k) == keys.end()) keys.push_back(k);
      by_rank.back()[k] = v;
    }
  }
  std::vector<std::string> lines;
  for (const std::string& key : keys) {
    std::vector<std::string> per_rank;
    for (const auto& entries_of_rank : by_rank) {
      const auto it = entries_of_rank.find(key);
      per_rank.push_back(it == entries_of_rank.end() ? "<not set>" : it->second);
    }
    const auto groups = parallel::group_ranks_by_value(per_rank);
    if (groups.size() == 1) continue;
    std::string line = "  " + key + ":";
    for (size_t i = 0; i < groups.size(); ++i)
      line += std::string(i ? "," : "") + " " + shorten(groups[i].first) + " (" +
              parallel::rank_names(groups[i].second) + ")";
    lines.push_back(line);
  }
  if (lines.empty()) return;  // the same entries, in another order (YAML mapping order)
  std::string message = "the ranks disagree on the " + what + " (" + std::to_string(lines.size()) +
                        (lines.size() == 1 ? " key" : " keys") + "):";
  const size_t shown = std::min<size_t>(lines.size(), 20);
  for (size_t i = 0; i < shown; ++i) message += "\n" + lines[i];
  if (shown < lines.size())
    message += "\n  ... and " + std::to_string(lines.size() - shown) + " more";
  throw parallel::AllRanksError(message, hint);
}

std::string state_digest(const OrderedDict<std::string, Tensor>& state) {
  uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a offset basis, mixed per 8-byte word below
  auto mix_word = [&](uint64_t w) {
    h ^= w;
    h *= 0x100000001b3ULL;
    h ^= h >> 29;
  };
  auto mix_bytes = [&](const void* data, size_t n) {
    const auto* p = static_cast<const unsigned char*>(data);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
      uint64_t w;
      std::memcpy(&w, p + i, 8);
      mix_word(w);
    }
    uint64_t tail = 0;
    std::memcpy(&tail, p + i, n - i);
    mix_word(tail ^ (uint64_t(n) << 56));
  };
  for (const auto& [name, t] : state) {
    const std::string header = name + " " + dtype_name(t.dtype()) + " " + shape_str(t.sizes());
    mix_bytes(header.data(), header.size());
    const Tensor c = t.cpu().contiguous();  // a device tensor's bytes are read on the host
    mix_bytes(c.raw_data(), size_t(c.nbytes()));
  }
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return hex;
}

}  // namespace tandem::launch
