// Size2: a 2-D size/stride/padding argument that remembers whether the user passed one int or a
// pair, because PyTorch's pooling and Upsample reprs print what was passed ("2" vs "(2, 2)").
#pragma once

#include <cstdint>
#include <string>

#include "framework/ops/conv.h"  // Pair

namespace tandem::nn {

struct Size2 {
  int64_t h = 0, w = 0;
  bool scalar = true;
  Size2() = default;
  Size2(int64_t v) : h(v), w(v), scalar(true) {}  // NOLINT: implicit, as PyTorch's int args
  Size2(int64_t a, int64_t b) : h(a), w(b), scalar(false) {}
  Size2(Pair p) : h(p[0]), w(p[1]), scalar(false) {}  // NOLINT
  Pair pair() const { return {h, w}; }
  // As Python prints the stored value: "2" or "(2, 3)".
  std::string str() const { return scalar ? std::to_string(h) : tuple_str(); }
  // As a tuple even when given as an int (Conv stores _pair(arg)).
  std::string tuple_str() const {
    std::string s("(");  // appends, not "(" + ..., which trips GCC 12's -Wrestrict
    s.append(std::to_string(h)).append(", ").append(std::to_string(w)).append(")");
    return s;
  }
  bool operator==(const Size2& o) const { return h == o.h && w == o.w; }
};

inline const char* py_bool(bool b) { return b ? "True" : "False"; }

}  // namespace tandem::nn
