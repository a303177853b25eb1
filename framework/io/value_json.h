// Value <-> JSON with tensors pulled out: a Value tree (an optimizer state_dict, a scheduler
// state_dict, a whole checkpoint) becomes a JSON document in which every tensor is replaced by
// {"__tensor__": "<name>"}, plus the named tensors. This is how tandem checkpoints keep their
// non-tensor parts in safetensors' __metadata__ and their tensors as ordinary entries.
// Python-only types are kept distinct: tuples as {"__tuple__": [...]}, non-string dict keys as
// {"__dict__": [[key, value], ...]}, and non-finite floats as {"__float__": "inf"}.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "framework/core/ordered_dict.h"
#include "framework/core/value.h"

namespace tandem::io {

// Tensors are named `prefix` + a path of keys/indices joined by '/', e.g.
// "optimizer/state/0/exp_avg".
nlohmann::ordered_json value_to_json(const Value& v, const std::string& prefix,
                                     OrderedDict<std::string, Tensor>& tensors);
// Inverse; tensor references are looked up in `tensors` (an error names a missing one).
Value value_from_json(const nlohmann::ordered_json& j,
                      const OrderedDict<std::string, Tensor>& tensors);

}  // namespace tandem::io
