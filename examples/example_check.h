// check(condition, what): the examples' assertion. Each example is also a test (CI runs them
// against the installed package), so a failed check prints what failed and exits 1.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>

inline void check(bool condition, const std::string& what) {
  if (condition) return;
  std::fprintf(stderr, "check failed: %s\n", what.c_str());
  std::exit(1);
}
