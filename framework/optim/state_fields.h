// Checked reading of a loaded optimizer or scheduler state_dict. A state_dict may come from an
// edited or damaged file, so each field is type- and range-checked before it is used, and an
// error names the field ("scheduler.base_lrs: expected 2 numbers (one per parameter group),
// got 0") instead of failing later inside a kernel.
//
//   StateFields f(state, "scheduler");
//   f.integer("last_epoch", last_epoch_, -1);        // absent: left as it is
//   f.numbers("base_lrs", base_lrs_, groups.size());
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "framework/core/value.h"

namespace tandem::optim {

class StateFields {
 public:
  // Throws unless `state` is a dict; `where` prefixes every error ("scheduler", "optimizer").
  StateFields(const Value& state, std::string where);
  const Value* find(const char* key) const;
  // Each reads `key` into `out` when present (returning true) and leaves `out` alone when absent.
  bool number(const char* key, double& out) const;
  bool integer(const char* key, int64_t& out, int64_t min = INT64_MIN,
               int64_t max = INT64_MAX) const;
  bool flag(const char* key, bool& out) const;
  bool text(const char* key, std::string& out,
            std::initializer_list<const char*> allowed = {}) const;
  // Exactly `count` numbers (a list or tuple).
  bool numbers(const char* key, std::vector<double>& out, size_t count) const;
  [[noreturn]] void fail(const std::string& key, const std::string& what) const;
  const std::string& where() const { return where_; }

 private:
  const Value& d_;
  std::string where_;
};

// An integer dict key (PyTorch's parameter ids and milestones are ints; a str like "3" is
// accepted too); throws naming `where` for anything else.
int64_t int_key(const Value& key, const std::string& where);

}  // namespace tandem::optim
