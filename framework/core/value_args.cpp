// The typed argument reader shared by the model builder and the transform parser.
#include "framework/core/value_args.h"

#include <algorithm>

#include "framework/core/text.h"

namespace tandem {

ValueArgs::ValueArgs(const Value* v, std::string path, std::string source)
    : v_(v), path_(std::move(path)), source_(std::move(source)) {
  TANDEM_CHECK(!v_ || v_->is_none() || v_->is_dict(), path_,
               ": expected a mapping of arguments, got ", v_->kind());
}

const Value* ValueArgs::get(const std::string& key) {
  known_.push_back(key);
  if (!v_ || v_->is_none()) return nullptr;
  const Value* f = v_->find(Value(key));
  return (f && !f->is_none()) ? f : nullptr;
}

bool ValueArgs::present_none(const std::string& key) const {
  if (!v_ || v_->is_none()) return false;
  const Value* f = v_->find(Value(key));
  return f && f->is_none();
}

void ValueArgs::fail_missing(const std::string& key) const {
  throw Error(path_ + ": missing required argument '" + key + "'",
              "add " + key + ": <value> to " + path_ + " (the arguments are " + source_ +
                  ", with its defaults; " + key + " has none)");
}

int64_t ValueArgs::int_(const std::string& key, std::optional<int64_t> def) {
  const Value* f = get(key);
  if (!f) {
    if (!def) fail_missing(key);
    return *def;
  }
  TANDEM_CHECK(f->is_int(), at(key), ": expected an integer, got ", f->repr());
  return f->to_int();
}

double ValueArgs::float_(const std::string& key, double def) {
  const Value* f = get(key);
  if (!f) return def;
  TANDEM_CHECK(f->is_number(), at(key), ": expected a number, got ", f->repr());
  return f->to_double();
}

std::optional<double> ValueArgs::opt_float(const std::string& key, std::optional<double> def) {
  const bool none = present_none(key);
  const Value* f = get(key);
  if (none) return std::nullopt;
  if (!f) return def;
  TANDEM_CHECK(f->is_number(), at(key), ": expected a number or null, got ", f->repr());
  return f->to_double();
}

bool ValueArgs::bool_(const std::string& key, bool def) {
  const Value* f = get(key);
  if (!f) return def;
  TANDEM_CHECK(f->is_bool(), at(key), ": expected true or false, got ", f->repr());
  return f->to_bool();
}

std::string ValueArgs::str_(const std::string& key, const std::string& def) {
  const Value* f = get(key);
  if (!f) return def;
  TANDEM_CHECK(f->is_string(), at(key), ": expected a string, got ", f->repr());
  return f->to_string();
}

std::vector<int64_t> ValueArgs::int_list(const std::string& key, std::vector<int64_t> def) {
  const Value* f = get(key);
  if (!f) return def;
  TANDEM_CHECK(f->is_list() || f->is_tuple(), at(key), ": expected a list of integers");
  std::vector<int64_t> out;
  for (auto& i : f->items()) {
    TANDEM_CHECK(i.is_int(), at(key), ": expected a list of integers, got ", f->repr());
    out.push_back(i.to_int());
  }
  return out;
}

std::vector<double> ValueArgs::numbers(const std::string& key,
                                       std::optional<std::vector<double>> def) {
  const Value* f = get(key);
  if (!f) {
    if (!def) fail_missing(key);
    return *def;
  }
  if (f->is_number()) return {f->to_double()};
  TANDEM_CHECK(f->is_list() || f->is_tuple(), at(key),
               ": expected a number or a list of numbers, got ", f->repr());
  std::vector<double> out;
  for (const Value& x : f->items()) {
    TANDEM_CHECK(x.is_number(), at(key), ": expected numbers, got ", f->repr());
    out.push_back(x.to_double());
  }
  return out;
}

std::vector<int64_t> ValueArgs::ints(const std::string& key,
                                     std::optional<std::vector<int64_t>> def) {
  const Value* f = get(key);
  if (!f) {
    if (!def) fail_missing(key);
    return *def;
  }
  if (f->is_int()) return {f->to_int()};
  TANDEM_CHECK(f->is_list() || f->is_tuple(), at(key),
               ": expected an integer or a list of integers, got ", f->repr());
  std::vector<int64_t> out;
  for (const Value& x : f->items()) {
    TANDEM_CHECK(x.is_int(), at(key), ": expected integers, got ", f->repr());
    out.push_back(x.to_int());
  }
  return out;
}

void ValueArgs::finish() const {
  if (!v_ || v_->is_none()) return;
  for (const auto& [k, val] : v_->dict_items()) {
    TANDEM_CHECK(k.is_string(), path_, ": argument names must be strings, got ", k.repr());
    const std::string& name = k.to_string();
    if (std::find(known_.begin(), known_.end(), name) != known_.end()) continue;
    const std::string c = closest_match(name, known_);
    std::string valid;
    for (const auto& n : known_) {
      if (!valid.empty()) valid += ", ";
      valid += n;
    }
    std::string what = path_ + ": unknown argument '" + name + "'";
    if (!c.empty()) what += "; did you mean '" + c + "'?";
    throw Error(what, "valid arguments: " + valid);
  }
}

}  // namespace tandem
