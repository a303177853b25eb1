// Value <-> JSON with tensors pulled out: a Value tree (an optimizer state_dict, a scheduler
// state_dict, a whole checkpoint) becomes a JSON document in which every tensor is replaced by
// {"__tensor__": "<name>"}, plus the named tensors. This is how tandem checkpoints keep their
// non-tensor parts in safetensors' __metadata__ and their tensors as ordinary entries.
// Python-only types are kept distinct: tuples as {"__tuple__": [...]}, non-string dict keys as
// {"__dict__": [[key, value], ...]}, and non-finite floats as {"__float__": "inf"}.
//
// Reading is one pass over the text, linear in its length, with bounded nesting: metadata is
// untrusted (a checksum catches accidents, not edits).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "framework/core/ordered_dict.h"
#include "framework/core/value.h"

namespace tandem::io {

// Appends a member to an insertion-ordered json object without the linear search for an
// existing key that operator[] does (quadratic for large objects). The caller guarantees that
// `key` is new.
inline void append_member(nlohmann::ordered_json& object, std::string key,
                          nlohmann::ordered_json value) {
  using Members = nlohmann::ordered_json::object_t::Container;
  static_cast<Members&>(object.get_ref<nlohmann::ordered_json::object_t&>())
      .emplace_back(std::move(key), std::move(value));
}

// Tensors are named `prefix` + a path of keys/indices joined by '/', e.g.
// "optimizer/state/0/exp_avg". Throws for values nested deeper than kMaxValueDepth.
nlohmann::ordered_json value_to_json(const Value& v, const std::string& prefix,
                                     OrderedDict<std::string, Tensor>& tensors);

// Inverse, from JSON text: objects become dicts in file order, tandem's encodings are decoded,
// tensor references are looked up in `tensors`. Refused with an error naming `name` and the
// path of the value ("optimizer.state.0.exp_avg"): malformed JSON, a repeated key, an unknown
// tensor, an integer beyond int64, or nesting deeper than kMaxValueDepth values.
Value value_from_json(const std::string& text, const OrderedDict<std::string, Tensor>& tensors,
                      const std::string& name);

}  // namespace tandem::io
