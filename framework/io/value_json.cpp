// Value <-> JSON conversion (see value_json.h).
#include "framework/io/value_json.h"

#include <cmath>

namespace tandem::io {

using json = nlohmann::ordered_json;

namespace {
std::string key_text(const Value& k) { return k.is_string() ? k.to_string() : k.repr(); }
}  // namespace

json value_to_json(const Value& v, const std::string& prefix,
                   OrderedDict<std::string, Tensor>& tensors) {
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
      arr.push_back(value_to_json(v.items()[i], prefix + "/" + std::to_string(i), tensors));
    if (v.is_tuple()) return json{{"__tuple__", arr}};
    return arr;
  }
  bool string_keys = true;
  for (const auto& [k, item] : v.dict_items()) string_keys = string_keys && k.is_string();
  if (string_keys) {
    json obj = json::object();
    for (const auto& [k, item] : v.dict_items()) {
      TANDEM_CHECK(k.to_string().rfind("__", 0) != 0 || k.to_string().size() < 4 ||
                       (k.to_string() != "__tensor__" && k.to_string() != "__tuple__" &&
                        k.to_string() != "__dict__" && k.to_string() != "__float__"),
                   "value_to_json: reserved key '", k.to_string(), "'");
      obj[k.to_string()] = value_to_json(item, prefix + "/" + k.to_string(), tensors);
    }
    return obj;
  }
  json pairs = json::array();
  for (const auto& [k, item] : v.dict_items())
    pairs.push_back(json::array({value_to_json(k, prefix + "/key", tensors),
                                 value_to_json(item, prefix + "/" + key_text(k), tensors)}));
  return json{{"__dict__", pairs}};
}

Value value_from_json(const json& j, const OrderedDict<std::string, Tensor>& tensors) {
  if (j.is_null()) return Value();
  if (j.is_boolean()) return Value(j.get<bool>());
  if (j.is_number_integer()) return Value(j.get<int64_t>());
  if (j.is_number()) return Value(j.get<double>());
  if (j.is_string()) return Value(j.get<std::string>());
  if (j.is_array()) {
    Value list = Value::list();
    for (const auto& item : j) list.append(value_from_json(item, tensors));
    return list;
  }
  if (j.size() == 1) {
    if (j.contains("__tensor__")) {
      const std::string name = j["__tensor__"].get<std::string>();
      const Tensor* t = tensors.find(name);
      TANDEM_CHECK(t != nullptr, "checkpoint refers to tensor '", name,
                   "' which is not in the file");
      return Value(*t);
    }
    if (j.contains("__float__")) return Value(std::stod(j["__float__"].get<std::string>()));
    if (j.contains("__tuple__")) {
      std::vector<Value> items;
      for (const auto& item : j["__tuple__"]) items.push_back(value_from_json(item, tensors));
      return Value::tuple(std::move(items));
    }
    if (j.contains("__dict__")) {
      Value d = Value::dict();
      for (const auto& pair : j["__dict__"]) {
        TANDEM_CHECK(pair.is_array() && pair.size() == 2,
                     "malformed __dict__ entry in checkpoint metadata");
        d.set(value_from_json(pair[0], tensors), value_from_json(pair[1], tensors));
      }
      return d;
    }
  }
  Value d = Value::dict();
  for (const auto& [k, item] : j.items()) d.set(Value(k), value_from_json(item, tensors));
  return d;
}

}  // namespace tandem::io
