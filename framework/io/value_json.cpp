// Value <-> JSON conversion (see value_json.h). Reading is a SAX handler that builds the Value
// on an explicit stack: no recursion, whatever the nesting, and no intermediate json tree.
#include "framework/io/value_json.h"

#include <cmath>
#include <limits>
#include <unordered_set>

namespace tandem::io {

using json = nlohmann::ordered_json;

namespace {

std::string key_text(const Value& k) { return k.is_string() ? k.to_string() : k.repr(); }

bool reserved(const std::string& k) {
  return k == "__tensor__" || k == "__tuple__" || k == "__dict__" || k == "__float__";
}

json to_json(const Value& v, const std::string& prefix, OrderedDict<std::string, Tensor>& tensors,
             size_t depth) {
  if (v.is_container() && depth >= kMaxValueDepth)
    TANDEM_FAIL("value_to_json: '", prefix, "' nests more than ", kMaxValueDepth, " levels deep");
  if (v.is_none()) return nullptr;
  if (v.is_bool()) return v.to_bool();
  if (v.is_int()) return v.to_int();
  if (v.is_double()) {
    const double d = v.to_double();
    if (std::isfinite(d)) return d;
    return json{{"__float__", std::isnan(d) ? "nan" : (d > 0 ? "inf" : "-inf")}};
  }
  if (v.is_string()) return v.to_string();
  if (v.is_tensor()) {
    tensors.insert(prefix, v.to_tensor());
    return json{{"__tensor__", prefix}};
  }
  if (v.is_list() || v.is_tuple()) {
    json arr = json::array();
    for (size_t i = 0; i < v.items().size(); ++i)
      arr.push_back(to_json(v.items()[i], prefix + "/" + std::to_string(i), tensors, depth + 1));
    if (v.is_tuple()) return json{{"__tuple__", arr}};
    return arr;
  }
  bool string_keys = true;
  for (const auto& [k, item] : v.dict_items()) string_keys = string_keys && k.is_string();
  if (string_keys) {
    json obj = json::object();
    std::unordered_set<std::string> seen;
    for (const auto& [k, item] : v.dict_items()) {
      TANDEM_CHECK(!reserved(k.to_string()), "value_to_json: reserved key '", k.to_string(), "'");
      TANDEM_CHECK(seen.insert(k.to_string()).second, "value_to_json: repeated key '",
                   k.to_string(), "'");
      append_member(obj, k.to_string(),
                    to_json(item, prefix + "/" + k.to_string(), tensors, depth + 1));
    }
    return obj;
  }
  json pairs = json::array();
  for (const auto& [k, item] : v.dict_items())
    pairs.push_back(json::array({to_json(k, prefix + "/key", tensors, depth + 1),
                                 to_json(item, prefix + "/" + key_text(k), tensors, depth + 1)}));
  return json{{"__dict__", pairs}};
}

// JSON text -> Value. Each open array or object is a frame; a finished one is decoded (the
// __tensor__/__tuple__/__dict__/__float__ encodings) and added to its parent.
class Builder : public nlohmann::json_sax<nlohmann::json> {
 public:
  Builder(const OrderedDict<std::string, Tensor>& tensors, const std::string& name)
      : tensors_(tensors), name_(name) {}
  Value result() { return std::move(root_); }

  bool null() override { return add(Value()); }
  bool boolean(bool b) override { return add(Value(b)); }
  bool number_integer(number_integer_t i) override { return add(Value(int64_t(i))); }
  bool number_unsigned(number_unsigned_t u) override {
    if (u > uint64_t(std::numeric_limits<int64_t>::max()))
      fail("integer " + std::to_string(u) + " is out of range");
    return add(Value(int64_t(u)));
  }
  bool number_float(number_float_t d, const string_t&) override { return add(Value(double(d))); }
  bool string(string_t& s) override { return add(Value(std::move(s))); }
  bool binary(binary_t&) override { fail("binary data"); }
  bool start_object(std::size_t) override { return open(Value::dict(), true); }
  bool key(string_t& k) override {
    Frame& f = stack_.back();
    if (!f.keys.insert(k).second) fail("repeated key '" + k + "'");
    f.key = std::move(k);
    return true;
  }
  bool end_object() override { return close(); }
  bool start_array(std::size_t) override { return open(Value::list(), false); }
  bool end_array() override { return close(); }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) override {
    throw Error(name_ + ": corrupted metadata: " + e.what(), "the file is corrupted");
  }

 private:
  struct Frame {
    Value value;
    bool object;
    std::string key;                       // object: the member being read
    std::unordered_set<std::string> keys;  // object: members so far
  };
  // JSON levels per Value level: {"__dict__": [[key, value]]} spends three.
  static constexpr size_t kMaxJsonDepth = 3 * kMaxValueDepth + 8;

  // "optimizer.state.0.exp_avg": where the value being read sits.
  std::string path() const {
    std::string p;
    for (const auto& f : stack_) {
      if (!p.empty() || f.object) p += p.empty() ? "" : ".";
      p += f.object ? f.key : "[" + std::to_string(f.value.size()) + "]";
    }
    return p.empty() ? "<top>" : p;
  }
  [[noreturn]] void fail(const std::string& what) const {
    throw Error(name_ + ": " + path() + ": " + what, "the file is corrupted or was edited");
  }
  bool open(Value v, bool object) {
    if (stack_.size() >= kMaxJsonDepth)
      fail("nests more than " + std::to_string(kMaxJsonDepth) + " levels deep");
    stack_.push_back(Frame{std::move(v), object, {}, {}});
    return true;
  }
  bool close() {
    Value v = std::move(stack_.back().value);
    const bool object = stack_.back().object;
    stack_.pop_back();
    return add(object ? decode(std::move(v)) : std::move(v));
  }
  bool add(Value v) {
    if (stack_.empty()) {
      root_ = std::move(v);
    } else if (stack_.back().object) {
      stack_.back().value.dict_items().emplace_back(Value(stack_.back().key), std::move(v));
    } else {
      stack_.back().value.append(std::move(v));
    }
    return true;
  }
  // An object that is one of tandem's encodings becomes what it encodes. Runs with the object's
  // parent on top of the stack, so path() names the member being decoded.
  Value decode(Value obj) {
    if (obj.size() != 1 || !reserved(obj.dict_items()[0].first.to_string())) return obj;
    const std::string& tag = obj.dict_items()[0].first.to_string();
    Value& x = obj.dict_items()[0].second;
    if (tag == "__tensor__") {
      if (!x.is_string()) fail("__tensor__ is not a name");
      const Tensor* t = tensors_.find(x.to_string());
      if (!t) fail("refers to tensor '" + x.to_string() + "' which is not in the file");
      return Value(*t);
    }
    if (tag == "__float__") {
      if (x.is_string() && x.to_string() == "nan") return Value(std::nan(""));
      if (x.is_string() && x.to_string() == "inf") return Value(HUGE_VAL);
      if (x.is_string() && x.to_string() == "-inf") return Value(-HUGE_VAL);
      fail("__float__ must be \"nan\", \"inf\" or \"-inf\"");
    }
    if (!x.is_list()) fail(tag + " is not a list");
    if (tag == "__tuple__") return Value::tuple(std::move(x.items()));
    Value d = Value::dict();  // __dict__: [[key, value], ...] with str or int keys
    DictIndex index(d);
    for (auto& pair : x.items()) {
      if (!pair.is_list() || pair.size() != 2) fail("a __dict__ entry is not a [key, value] pair");
      Value& k = pair.items()[0];
      if (!k.is_string() && !k.is_int()) fail(std::string("a dict key of type ") + k.kind());
      if (index.contains(k)) fail("repeated dict key " + k.repr(200));
      index.set(std::move(k), std::move(pair.items()[1]));
    }
    return d;
  }

  const OrderedDict<std::string, Tensor>& tensors_;
  const std::string& name_;
  std::vector<Frame> stack_;
  Value root_;
};

}  // namespace

json value_to_json(const Value& v, const std::string& prefix,
                   OrderedDict<std::string, Tensor>& tensors) {
  return to_json(v, prefix, tensors, 0);
}

Value value_from_json(const std::string& text, const OrderedDict<std::string, Tensor>& tensors,
                      const std::string& name) {
  Builder b(tensors, name);
  nlohmann::json::sax_parse(text, &b);
  Value v = b.result();
  const ValueGraphStats s = v.graph_stats();  // a tree (nothing is shared): depth is all to check
  if (s.depth > kMaxValueDepth + 1)
    throw Error(name + ": values nest " + std::to_string(s.depth) + " levels deep (at most " +
                    std::to_string(kMaxValueDepth) + ")",
                "the file is corrupted or was edited");
  return v;
}

}  // namespace tandem::io
