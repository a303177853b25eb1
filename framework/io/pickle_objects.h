// Python objects in a torch.save pickle, read as data and never called: what the restricted
// unpickler (pickle_reader.cpp) makes of an instance of some class, and of the few constructors
// whose meaning is known without running them.
//
// An instance pickles as NEWOBJ (cls.__new__(cls), protocol 2 and up) or
// copyreg._reconstructor (protocols 0 and 1), then BUILD with the attributes (its __dict__).
// Neither runs anything of the class here: the table records its name and keeps the attributes
// in a dict. At the end, lower() turns the objects into plain Values:
// - an nn.Module (attributes _parameters, _buffers, _modules: `torch.save(model)`) becomes its
//   state_dict, as Module.state_dict() lists it: own parameters, then persistent buffers, then
//   each child's under "name."; None entries are skipped;
// - a TorchScript module (class __torch__.*, a `training` attribute: the data.pkl of
//   torch.jit.save) becomes its tensors and its submodules' under "name.", the state_dict's keys;
// - any other object becomes {"__class__": "module.Name", "__args__": (...), attributes...}
//   (an argparse.Namespace in a checkpoint: its arguments); a dict subclass's items are among
//   the attributes, a list subclass's under "__items__".
// Known constructors (known_reduce) build data instead of calling: set and frozenset (a list),
// collections.defaultdict (a dict), torch.device (its string), numpy's scalars (a number),
// numpy arrays (lowered to tensors of the same dtype, shape and order where tandem has the
// dtype) and the bytes they hold. Every other REDUCE is a function call, and the reader
// refuses it.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "framework/core/value.h"

namespace tandem::io::pickle {

class ObjectTable {
 public:
  using Fail = std::function<void(const std::string&)>;  // throws
  explicit ObjectTable(Fail fail) : fail_(std::move(fail)) {}

  // A new instance of `cls` made with `args`: the dict its attributes will fill (BUILD, or the
  // SETITEMS of a dict subclass).
  Value make(const std::string& cls, Value args);
  bool is_object(const Value& v) const { return find(v) != nullptr; }
  // BUILD: a dict state sets attributes; (dict or None, slots dict) sets both; any other state
  // is kept as the attribute "__state__". Returns how much deeper the object now nests than the
  // state does: 0 for a dict, -1 for the pair, 1 for "__state__".
  int build(const Value& object, const Value& state);

  // The items of an instance of a list subclass (its APPENDS): a list kept as its attribute
  // "__items__".
  Value items_of(const Value& object);

  // REDUCE of `global` with `args`, when its result is known without calling it.
  std::optional<Value> known_reduce(const std::string& global, const std::vector<Value>& args);

  // Bytes (BINBYTES, or _codecs.encode(text, 'latin1') in protocol 2) as an object of class
  // builtins.bytes whose argument is the latin-1 text of the bytes (valid UTF-8, one code point
  // per byte).
  Value bytes(const std::string& raw);

  // Values copied so far by build() and known_reduce(): the reader bounds it by its input's
  // size, so a state or list reused through the memo cannot make the work quadratic.
  uint64_t copied() const { return copied_; }

  // Every object in `root` replaced as the file comment says; containers are changed in place
  // and sharing is kept. `root` must be acyclic and nest at most kMaxValueDepth levels. The
  // numpy arrays' bytes together may not exceed `array_budget`.
  Value lower(const Value& root, uint64_t array_budget);

 private:
  struct Object {
    std::string cls;
    Value args;   // tuple
    Value items;  // a list subclass's items; None until the first APPEND
  };
  const Object* find(const Value& v) const;
  struct NumpyType {
    std::string code;  // "f4", "i8", "b1", "U5", ...
    char order = '|';  // '<', '>', '|' (no order), '=' (native)
    int width = 0;     // bytes per element for the codes [biuf][1-8]; 0 for others
  };
  std::optional<NumpyType> numpy_type(const Value& dtype) const;
  Value device_string(const std::vector<Value>& args);
  Value numpy_scalar(const std::vector<Value>& args);
  std::optional<Value> numpy_array(const Value& array);  // a Tensor, or nullopt
  // The bytes of a builtins.bytes object, which must not hold more than `expected`.
  std::string raw_bytes(const Value& v, const char* what, uint64_t expected) const;

  Value lower_value(const Value& v, std::unordered_map<const void*, Value>& done);
  void add_module_state(const Value& module, const std::string& prefix, DictIndex& out) const;
  bool is_script_module(const Object& o, const Value& attributes) const;
  void add_script_module_state(const Value& module, const std::string& prefix,
                               DictIndex& out) const;

  Fail fail_;
  uint64_t copied_ = 0;
  uint64_t array_bytes_ = 0, array_budget_ = 0;
  std::unordered_map<const void*, Object> objects_;  // by the identity of the attribute dict
};

}  // namespace tandem::io::pickle
