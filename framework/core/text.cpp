// Text helpers.
#include "framework/core/text.h"

#include <algorithm>
#include <cstdint>

namespace tandem {

std::string closest_match(const std::string& word, const std::vector<std::string>& candidates) {
  // Edit distance with adjacent transpositions (optimal string alignment): "rleu" is one step
  // from "relu", as from "elu".
  auto distance = [](const std::string& a, const std::string& b) {
    std::vector<size_t> before(b.size() + 1), prev(b.size() + 1), cur(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
      cur[0] = i;
      for (size_t j = 1; j <= b.size(); ++j) {
        cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1])});
        if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
          cur[j] = std::min(cur[j], before[j - 2] + 1);
      }
      std::swap(before, prev);
      std::swap(prev, cur);
    }
    return prev[b.size()];
  };
  auto length_gap = [&](const std::string& c) {
    return c.size() > word.size() ? c.size() - word.size() : word.size() - c.size();
  };
  std::string best;
  if (word.size() > 256) return best;  // nothing is that long: no quadratic work for a huge key
  size_t best_d = SIZE_MAX;
  for (const auto& c : candidates) {
    size_t d = distance(word, c);
    if (!word.empty() && (c.find(word) != std::string::npos || word.find(c) != std::string::npos))
      d = std::min(d, size_t(1));
    // Of equally close ones, the one nearest in length (a swap or a wrong letter keeps it).
    if (d < best_d || (d == best_d && length_gap(c) < length_gap(best))) best_d = d, best = c;
  }
  return best_d <= std::max<size_t>(2, word.size() / 2) ? best : std::string();
}

bool is_valid_utf8(const std::string& s, size_t* bad_at) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  auto fail = [&] {
    if (bad_at) *bad_at = i;
    return false;
  };
  while (i < n) {
    const unsigned c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    unsigned lo = 0x80, hi = 0xbf;  // the allowed range of the second byte
    if (c >= 0xc2 && c <= 0xdf) {
      len = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
      len = 3;
      if (c == 0xe0) lo = 0xa0;  // overlong
      if (c == 0xed) hi = 0x9f;  // surrogates
    } else if (c >= 0xf0 && c <= 0xf4) {
      len = 4;
      if (c == 0xf0) lo = 0x90;  // overlong
      if (c == 0xf4) hi = 0x8f;  // past U+10FFFF
    } else {
      return fail();
    }
    if (n - i < len || p[i + 1] < lo || p[i + 1] > hi) return fail();
    for (size_t k = 2; k < len; ++k)
      if (p[i + k] < 0x80 || p[i + k] > 0xbf) return fail();
    i += len;
  }
  return true;
}

}  // namespace tandem
