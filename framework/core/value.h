// Value: a tree of None, bool, int, float, str, Tensor, list, tuple and dict, the data model of
// the files PyTorch users exchange (torch.save of a state_dict, an optimizer state_dict, a
// checkpoint dict). Optimizer and scheduler state_dicts are Values in PyTorch's layout, and
// framework/io reads and writes Values, so one representation serves both.
//
//   Value sd = Value::dict();
//   sd.set("epoch", Value(int64_t(3)));
//   sd.set("state_dict", Value::dict());
//   int64_t epoch = sd.at("epoch").to_int();
//
// Values read from files are untrusted: readers bound their nesting (kMaxValueDepth), refuse
// cycles and check how far shared containers expand (graph_stats). Destroying a tree never
// recurses more than one level deep, however deep the tree, and repr() is bounded.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "framework/core/ordered_dict.h"
#include "framework/tensor/tensor.h"

namespace tandem {

// The deepest nesting of lists, tuples and dicts a reader accepts from a file. A state_dict or a
// checkpoint nests a handful of levels; the bound keeps recursive consumers (printers, writers,
// converters) far from the end of the stack.
inline constexpr size_t kMaxValueDepth = 100;

// What graph_stats() finds: nesting depth (a scalar is 0, an empty list 1), the number of values
// the tree would hold if every shared container were copied out (saturating), and whether a
// container contains itself.
struct ValueGraphStats {
  size_t depth = 0;
  uint64_t expanded = 0;
  size_t containers = 0;  // distinct lists, tuples and dicts
  bool cyclic = false;
};

class Value {
 public:
  struct None {};
  using List = std::vector<Value>;
  struct Tuple {
    std::vector<Value> items;
  };
  // Ordered; keys are str or int (PyTorch's optimizer state is keyed by int).
  using Dict = std::vector<std::pair<Value, Value>>;

  Value() : v_(None{}) {}
  Value(bool b) : v_(b) {}                      // NOLINT
  Value(int64_t i) : v_(i) {}                   // NOLINT
  Value(int i) : v_(int64_t(i)) {}              // NOLINT
  Value(double d) : v_(d) {}                    // NOLINT
  Value(std::string s) : v_(std::move(s)) {}    // NOLINT
  Value(const char* s) : v_(std::string(s)) {}  // NOLINT
  Value(Tensor t) : v_(std::move(t)) {}         // NOLINT
  Value(List l);                                // NOLINT
  // A state_dict (str -> Tensor, in order) as a dict, so `io::save(net->state_dict(), path)` and
  // `ckpt.set("model_state_dict", net->state_dict())` read as they do in PyTorch.
  Value(const OrderedDict<std::string, Tensor>& state_dict);  // NOLINT
  static Value tuple(std::vector<Value> items);
  static Value dict();
  static Value list() { return Value(List{}); }

  bool is_none() const { return std::holds_alternative<None>(v_); }
  bool is_bool() const { return std::holds_alternative<bool>(v_); }
  bool is_int() const { return std::holds_alternative<int64_t>(v_); }
  bool is_double() const { return std::holds_alternative<double>(v_); }
  bool is_number() const { return is_int() || is_double(); }
  bool is_string() const { return std::holds_alternative<std::string>(v_); }
  bool is_tensor() const { return std::holds_alternative<Tensor>(v_); }
  bool is_list() const { return std::holds_alternative<std::shared_ptr<List>>(v_); }
  bool is_tuple() const { return std::holds_alternative<std::shared_ptr<Tuple>>(v_); }
  bool is_dict() const { return std::holds_alternative<std::shared_ptr<Dict>>(v_); }
  const char* kind()
      const;  // "None", "bool", "int", "float", "str", "Tensor", "list", "tuple", "dict"

  // Accessors of a temporary (`opt.state_dict().dict_items()`, `load(p).at("state_dict")`)
  // return values that own what they hold, so a range-for over them, or a reference bound to
  // what they return, stays valid (a reference into an element of a returned container lasts,
  // as always in C++, to the end of the statement); on a named Value they return references.
  // Copies are shallow (containers and tensors are shared); a container nobody else holds is
  // moved.
  bool to_bool() const;
  int64_t to_int() const;
  double to_double() const;  // ints convert
  const std::string& to_string() const&;
  std::string to_string() &&;
  const Tensor& to_tensor() const&;
  Tensor to_tensor() &&;
  // list or tuple items
  const std::vector<Value>& items() const&;
  std::vector<Value>& items() &;
  std::vector<Value> items() &&;
  void append(Value v);  // list only

  // dict access (keys compared by kind and value)
  const Dict& dict_items() const&;
  Dict& dict_items() &;
  Dict dict_items() &&;
  bool contains(const Value& key) const;
  // The dict as a state_dict; throws naming the first entry that is not str -> Tensor.
  OrderedDict<std::string, Tensor> to_state_dict() const;
  const Value& at(const Value& key) const&;  // throws naming the key
  Value& at(const Value& key) &;
  Value at(const Value& key) &&;
  const Value* find(const Value& key) const;
  void set(const Value& key, Value value);  // insert at end or replace in place
  size_t size() const;                      // list/tuple/dict length

  bool is_container() const { return is_list() || is_tuple() || is_dict(); }
  // The container shared by copies of this Value (nullptr for a scalar or tensor).
  const void* identity() const;

  bool operator==(const Value& other) const;  // deep; tensors compare by identity; iterative
  // Python-like, tensors as tensor(shape, dtype). Bounded: nesting beyond 32 levels prints
  // "...", and the text stops near max_chars.
  std::string repr(size_t max_chars = 1 << 20) const;
  // Walks the graph once per distinct container, without recursion (cycles are found, not
  // followed).
  ValueGraphStats graph_stats() const;

 private:
  explicit Value(std::shared_ptr<Dict> d) : v_(std::move(d)) {}
  std::variant<None, bool, int64_t, double, std::string, Tensor, std::shared_ptr<List>,
               std::shared_ptr<Tuple>, std::shared_ptr<Dict>>
      v_;
};

// A hash index over the keys (str or int) of a dict being filled from untrusted input: set() is
// O(1) where Value::set is O(n), with the same meaning (a repeated key is replaced in place).
// Holds a reference to the dict.
class DictIndex {
 public:
  explicit DictIndex(Value dict);
  void set(Value key, Value value);
  bool contains(const Value& key) const;
  // The dict as a state_dict; throws naming the first entry that is not str -> Tensor.
  OrderedDict<std::string, Tensor> to_state_dict() const;
  const Value& dict() const { return dict_; }

 private:
  static std::string key_of(const Value& key);  // throws for keys other than str and int
  Value dict_;
  std::unordered_map<std::string, size_t> pos_;
};

}  // namespace tandem
