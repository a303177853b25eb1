// map_tensors(v, fn): a copy of the Value tree `v` (state_dicts: dicts, lists, tuples) with every
// tensor replaced by fn(tensor, key), key being the name it sits under in its dict ("" in a
// list). Tests use it to take host snapshots of device state or to convert it.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "framework/core/value.h"

namespace tandem::testing {

inline Value map_tensors(const Value& v,
                         const std::function<Tensor(const Tensor&, const std::string&)>& fn,
                         const std::string& key = "") {
  if (v.is_tensor()) return Value(fn(v.to_tensor(), key));
  if (v.is_dict()) {
    Value d = Value::dict();
    for (const auto& [k, x] : v.dict_items())
      d.set(k, map_tensors(x, fn, k.is_string() ? k.to_string() : ""));
    return d;
  }
  if (v.is_list() || v.is_tuple()) {
    std::vector<Value> items;
    for (const auto& x : v.items()) items.push_back(map_tensors(x, fn));
    if (v.is_tuple()) return Value::tuple(items);
    Value l = Value::list();
    for (auto& x : items) l.append(x);
    return l;
  }
  return v;
}

}  // namespace tandem::testing
