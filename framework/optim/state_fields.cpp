// Checked state_dict fields (see state_fields.h).
#include "framework/optim/state_fields.h"

#include <charconv>

namespace tandem::optim {

StateFields::StateFields(const Value& state, std::string where)
    : d_(state), where_(std::move(where)) {
  if (!state.is_dict())
    throw Error(where_ + ": expected a state_dict (a dict), got a " + state.kind(),
                "the state comes from a corrupted or edited file");
}

const Value* StateFields::find(const char* key) const { return d_.find(Value(key)); }

void StateFields::fail(const std::string& key, const std::string& what) const {
  throw Error(where_ + "." + key + ": " + what,
              "the state comes from a corrupted or edited file, or from another run");
}

bool StateFields::number(const char* key, double& out) const {
  const Value* v = find(key);
  if (!v) return false;
  if (!v->is_number()) fail(key, std::string("expected a number, got a ") + v->kind());
  out = v->to_double();
  return true;
}

bool StateFields::integer(const char* key, int64_t& out, int64_t min, int64_t max) const {
  const Value* v = find(key);
  if (!v) return false;
  if (!v->is_int() || v->to_int() < min || v->to_int() > max)
    fail(key, "expected an integer in [" + std::to_string(min) + ", " + std::to_string(max) +
                  "], got " + v->repr(100));
  out = v->to_int();
  return true;
}

bool StateFields::flag(const char* key, bool& out) const {
  const Value* v = find(key);
  if (!v) return false;
  if (!v->is_bool()) fail(key, std::string("expected true or false, got a ") + v->kind());
  out = v->to_bool();
  return true;
}

bool StateFields::text(const char* key, std::string& out,
                       std::initializer_list<const char*> allowed) const {
  const Value* v = find(key);
  if (!v) return false;
  if (!v->is_string()) fail(key, std::string("expected a string, got a ") + v->kind());
  bool ok = allowed.size() == 0;
  std::string options;
  for (const char* a : allowed) {
    ok = ok || v->to_string() == a;
    options += (options.empty() ? "" : ", ") + std::string(a);
  }
  if (!ok) fail(key, "expected one of " + options + ", got '" + v->to_string() + "'");
  out = v->to_string();
  return true;
}

bool StateFields::numbers(const char* key, std::vector<double>& out, size_t count) const {
  const Value* v = find(key);
  if (!v) return false;
  const bool seq = v->is_list() || v->is_tuple();
  if (!seq || v->size() != count)
    fail(key, "expected " + std::to_string(count) + " number(s) (one per parameter group), got " +
                  (seq ? std::to_string(v->size()) + " values" : std::string("a ") + v->kind()));
  std::vector<double> values;
  for (const auto& x : v->items()) {
    if (!x.is_number()) fail(key, std::string("expected numbers, got a ") + x.kind());
    values.push_back(x.to_double());
  }
  out = std::move(values);
  return true;
}

int64_t int_key(const Value& key, const std::string& where) {
  if (key.is_int()) return key.to_int();
  if (key.is_string()) {
    const std::string& s = key.to_string();
    int64_t v = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec == std::errc() && end == s.data() + s.size() && !s.empty()) return v;
  }
  throw Error(where + ": expected an integer key, got " + key.repr(100),
              "the state comes from a corrupted or edited file");
}

}  // namespace tandem::optim
