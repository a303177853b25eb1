// ValueArgs: reads the named arguments of one config mapping (a layer's, a zoo model's, a
// transform's) and records the keys it was asked for, so that finish() can reject a key nobody
// asked for, with a "did you mean" suggestion. Errors name the mapping's path:
//   "model.layers[1].conv2d: missing required argument 'kernel_size'"
//   "data.train_transforms[0].resize: unknown argument 'sise'; did you mean 'size'?"
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "framework/core/value.h"

namespace tandem {

class ValueArgs {
 public:
  // `v` is the mapping (null or None: no arguments); `path` names it in errors; `source` says
  // whose argument names and defaults these are ("PyTorch's", "torchvision's"), for the hint of
  // a missing argument.
  ValueArgs(const Value* v, std::string path, std::string source = "PyTorch's");

  // The value of `key`, or null when absent or None; records `key` as known.
  const Value* get(const std::string& key);
  // Whether `key` is present with the value None.
  bool present_none(const std::string& key) const;
  std::string at(const std::string& key) const { return path_ + "." + key; }
  const std::string& path() const { return path_; }
  [[noreturn]] void fail_missing(const std::string& key) const;

  // Typed readers: a default of nullopt makes the argument required.
  int64_t int_(const std::string& key, std::optional<int64_t> def = std::nullopt);
  double float_(const std::string& key, double def);
  std::optional<double> opt_float(const std::string& key, std::optional<double> def);
  bool bool_(const std::string& key, bool def);
  std::string str_(const std::string& key, const std::string& def);
  std::vector<int64_t> int_list(const std::string& key, std::vector<int64_t> def);
  // A number or a list of numbers (torchvision's `mean: [0.5, 0.5]`, `fill: 0`).
  std::vector<double> numbers(const std::string& key,
                              std::optional<std::vector<double>> def = std::nullopt);
  // An integer or a list of integers (torchvision's `size: 224`, `size: [224, 192]`).
  std::vector<int64_t> ints(const std::string& key,
                            std::optional<std::vector<int64_t>> def = std::nullopt);

  // Throws for a key that no reader asked for.
  void finish() const;

 private:
  const Value* v_;
  std::string path_, source_;
  std::vector<std::string> known_;
};

}  // namespace tandem
