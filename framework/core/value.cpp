// Value accessors, printing, graph checks, and destruction without recursion.
#include "framework/core/value.h"

#include <sstream>
#include <utility>

namespace tandem {

// --- destruction ------------------------------------------------------------------------------
// A container's default destructor destroys its children, which destroy theirs: a tree 10^6
// levels deep overflows the stack. Containers are deleted by Release instead: the first one
// to die moves its container children to a worklist and destroys them one at a time; containers
// dying meanwhile only add their children to that worklist. The stack stays one level deep.
namespace {

thread_local std::vector<Value>* dying = nullptr;  // the worklist while one is being drained

void take_children(std::vector<Value>& items, std::vector<Value>& out) {
  for (auto& v : items)
    if (v.is_container()) out.push_back(std::move(v));
}
void take_children(Value::Dict& items, std::vector<Value>& out) {
  for (auto& [k, v] : items)
    if (v.is_container()) out.push_back(std::move(v));
}
bool has_container_children(const std::vector<Value>& items) {
  for (const auto& v : items)
    if (v.is_container()) return true;
  return false;
}
bool has_container_children(const Value::Dict& items) {
  for (const auto& [k, v] : items)
    if (v.is_container()) return true;
  return false;
}
std::vector<Value>& children_of(Value::List& l) { return l; }
std::vector<Value>& children_of(Value::Tuple& t) { return t.items; }
Value::Dict& children_of(Value::Dict& d) { return d; }

struct Release {
  template <typename C>
  void operator()(C* c) const noexcept {
    if (dying) {  // an outer Release is draining: hand over the children and go
      take_children(children_of(*c), *dying);
      delete c;
      return;
    }
    if (!has_container_children(children_of(*c))) {
      delete c;
      return;
    }
    std::vector<Value> worklist;
    take_children(children_of(*c), worklist);
    delete c;
    dying = &worklist;
    while (!worklist.empty()) {
      Value v = std::move(worklist.back());
      worklist.pop_back();
    }  // v dies here; a container's Release appends its children to the worklist
    dying = nullptr;
  }
};

}  // namespace

Value::Value(List l) : v_(std::shared_ptr<List>(new List(std::move(l)), Release{})) {}

Value Value::dict() { return Value(std::shared_ptr<Dict>(new Dict(), Release{})); }

Value::Value(const OrderedDict<std::string, Tensor>& state_dict) : Value(dict()) {
  Dict& items = dict_items();
  items.reserve(state_dict.size());
  for (const auto& [k, t] : state_dict) items.emplace_back(Value(k), Value(t));  // keys unique
}

Value Value::tuple(std::vector<Value> items) {
  Value v;
  v.v_ = std::shared_ptr<Tuple>(new Tuple{std::move(items)}, Release{});
  return v;
}

const void* Value::identity() const {
  if (is_list()) return std::get<std::shared_ptr<List>>(v_).get();
  if (is_tuple()) return std::get<std::shared_ptr<Tuple>>(v_).get();
  if (is_dict()) return std::get<std::shared_ptr<Dict>>(v_).get();
  return nullptr;
}

const char* Value::kind() const {
  static const char* names[] = {"None",   "bool", "int",   "float", "str",
                                "Tensor", "list", "tuple", "dict"};
  return names[v_.index()];
}

namespace {
[[noreturn]] void wrong_kind(const Value& v, const char* want) {
  TANDEM_FAIL("expected a ", want, " value, got ", v.kind());
}
}  // namespace

bool Value::to_bool() const {
  if (!is_bool()) wrong_kind(*this, "bool");
  return std::get<bool>(v_);
}
int64_t Value::to_int() const {
  if (!is_int()) wrong_kind(*this, "int");
  return std::get<int64_t>(v_);
}
double Value::to_double() const {
  if (is_int()) return double(std::get<int64_t>(v_));
  if (!is_double()) wrong_kind(*this, "float");
  return std::get<double>(v_);
}
const std::string& Value::to_string() const& {
  if (!is_string()) wrong_kind(*this, "str");
  return std::get<std::string>(v_);
}
std::string Value::to_string() && {
  if (!is_string()) wrong_kind(*this, "str");
  return std::move(std::get<std::string>(v_));
}
const Tensor& Value::to_tensor() const& {
  if (!is_tensor()) wrong_kind(*this, "Tensor");
  return std::get<Tensor>(v_);
}
Tensor Value::to_tensor() && {
  if (!is_tensor()) wrong_kind(*this, "Tensor");
  return std::move(std::get<Tensor>(v_));
}
const std::vector<Value>& Value::items() const& {
  if (is_list()) return *std::get<std::shared_ptr<List>>(v_);
  if (is_tuple()) return std::get<std::shared_ptr<Tuple>>(v_)->items;
  wrong_kind(*this, "list or tuple");
}
std::vector<Value>& Value::items() & {
  return const_cast<std::vector<Value>&>(std::as_const(*this).items());
}
std::vector<Value> Value::items() && {
  std::vector<Value>& items = this->items();
  const long owners = is_list() ? std::get<std::shared_ptr<List>>(v_).use_count()
                                : std::get<std::shared_ptr<Tuple>>(v_).use_count();
  if (owners == 1) return std::move(items);
  return items;
}
void Value::append(Value v) {
  if (!is_list()) wrong_kind(*this, "list");
  std::get<std::shared_ptr<List>>(v_)->push_back(std::move(v));
}
const Value::Dict& Value::dict_items() const& {
  if (!is_dict()) wrong_kind(*this, "dict");
  return *std::get<std::shared_ptr<Dict>>(v_);
}
Value::Dict& Value::dict_items() & { return const_cast<Dict&>(std::as_const(*this).dict_items()); }
Value::Dict Value::dict_items() && {
  Dict& items = this->dict_items();
  if (std::get<std::shared_ptr<Dict>>(v_).use_count() == 1) return std::move(items);
  return items;
}
const Value* Value::find(const Value& key) const {
  for (const auto& [k, v] : dict_items())
    if (k == key) return &v;
  return nullptr;
}
bool Value::contains(const Value& key) const { return find(key) != nullptr; }
OrderedDict<std::string, Tensor> Value::to_state_dict() const {
  OrderedDict<std::string, Tensor> out;
  for (const auto& [k, v] : dict_items()) {
    TANDEM_CHECK(k.is_string() && v.is_tensor(), "not a state_dict: the entry ", k.repr(100),
                 " is a ", v.kind(), " (a state_dict maps str keys to tensors)");
    out.set(k.to_string(), v.to_tensor());
  }
  return out;
}
const Value& Value::at(const Value& key) const& {
  const Value* v = find(key);
  TANDEM_CHECK(v != nullptr, "key ", key.repr(), " not found");
  return *v;
}
Value& Value::at(const Value& key) & { return const_cast<Value&>(std::as_const(*this).at(key)); }
Value Value::at(const Value& key) && { return std::as_const(*this).at(key); }
void Value::set(const Value& key, Value value) {
  for (auto& [k, v] : dict_items())
    if (k == key) {
      v = std::move(value);
      return;
    }
  dict_items().emplace_back(key, std::move(value));
}
size_t Value::size() const { return is_dict() ? dict_items().size() : items().size(); }

bool Value::operator==(const Value& o) const {
  // Iterative: a pair of containers to compare puts its children's pairs on a stack instead of
  // a call frame. Leaves compare directly, so comparing two leaves allocates nothing.
  std::vector<std::pair<const Value*, const Value*>> todo;
  auto equal_here = [&todo](const Value* a, const Value* b) {
    if (a->v_.index() != b->v_.index()) return false;
    if (a->is_none()) return true;
    if (a->is_bool()) return a->to_bool() == b->to_bool();
    if (a->is_int()) return a->to_int() == b->to_int();
    if (a->is_double()) return a->to_double() == b->to_double();
    if (a->is_string()) return a->to_string() == b->to_string();
    if (a->is_tensor()) return a->to_tensor().is_same(b->to_tensor());
    if (a->identity() == b->identity()) return true;  // the same container (ends a cycle too)
    if (a->is_list() || a->is_tuple()) {
      if (a->items().size() != b->items().size()) return false;
      for (size_t i = 0; i < a->items().size(); ++i)
        todo.emplace_back(&a->items()[i], &b->items()[i]);
    } else {
      if (a->dict_items().size() != b->dict_items().size()) return false;
      for (size_t i = 0; i < a->dict_items().size(); ++i) {
        todo.emplace_back(&a->dict_items()[i].first, &b->dict_items()[i].first);
        todo.emplace_back(&a->dict_items()[i].second, &b->dict_items()[i].second);
      }
    }
    return true;
  };
  if (!equal_here(this, &o)) return false;
  while (!todo.empty()) {
    const auto [a, b] = todo.back();
    todo.pop_back();
    if (!equal_here(a, b)) return false;
  }
  return true;
}

namespace {

constexpr int kMaxReprDepth = 32;

void repr_into(const Value& v, std::ostringstream& os, int depth, size_t max_chars) {
  if (size_t(os.tellp()) >= max_chars) return;
  if (v.is_none())
    os << "None";
  else if (v.is_bool())
    os << (v.to_bool() ? "True" : "False");
  else if (v.is_int())
    os << v.to_int();
  else if (v.is_double())
    os << v.to_double();
  else if (v.is_string())
    os << "'" << v.to_string() << "'";
  else if (v.is_tensor())
    os << "tensor(" << shape_str(v.to_tensor().sizes()) << ", " << dtype_name(v.to_tensor().dtype())
       << ")";
  else if (depth >= kMaxReprDepth)
    os << "...";
  else if (v.is_list() || v.is_tuple()) {
    os << (v.is_list() ? "[" : "(");
    for (size_t i = 0; i < v.items().size() && size_t(os.tellp()) < max_chars; ++i) {
      if (i) os << ", ";
      repr_into(v.items()[i], os, depth + 1, max_chars);
    }
    if (v.is_tuple() && v.items().size() == 1) os << ",";
    os << (v.is_list() ? "]" : ")");
  } else {
    os << "{";
    bool first = true;
    for (const auto& [k, x] : v.dict_items()) {
      if (size_t(os.tellp()) >= max_chars) break;
      os << (first ? "" : ", ");
      repr_into(k, os, depth + 1, max_chars);
      os << ": ";
      repr_into(x, os, depth + 1, max_chars);
      first = false;
    }
    os << "}";
  }
}

}  // namespace

std::string Value::repr(size_t max_chars) const {
  std::ostringstream os;
  repr_into(*this, os, 0, max_chars);
  std::string out = os.str();
  if (out.size() >= max_chars) out = out.substr(0, max_chars) + "...";
  return out;
}

ValueGraphStats Value::graph_stats() const {
  ValueGraphStats stats;
  if (!is_container()) {
    stats.expanded = 1;
    return stats;
  }
  struct Done {
    bool finished = false;
    size_t depth = 0;
    uint64_t expanded = 0;
  };
  struct Frame {
    const Value* v;
    size_t next = 0;  // next child (dict entries count two: key then value)
    size_t depth = 1;
    uint64_t expanded = 1;
  };
  auto add = [](uint64_t a, uint64_t b) { return a > UINT64_MAX - b ? UINT64_MAX : a + b; };
  std::unordered_map<const void*, Done> seen;
  std::vector<Frame> stack{{this}};
  seen[identity()] = Done{};
  while (!stack.empty()) {
    Frame& f = stack.back();
    const Value* child = nullptr;
    if (f.v->is_dict()) {
      const auto& d = f.v->dict_items();
      if (f.next < 2 * d.size()) child = f.next % 2 ? &d[f.next / 2].second : &d[f.next / 2].first;
    } else if (f.next < f.v->items().size()) {
      child = &f.v->items()[f.next];
    }
    if (!child) {  // all children seen: this container is finished
      Done& done = seen[f.v->identity()];
      done = Done{true, f.depth, f.expanded};
      ++stats.containers;
      stack.pop_back();
      if (!stack.empty()) {
        stack.back().depth = std::max(stack.back().depth, done.depth + 1);
        stack.back().expanded = add(stack.back().expanded, done.expanded);
      }
      continue;
    }
    ++f.next;
    if (!child->is_container()) {
      f.expanded = add(f.expanded, 1);
      continue;
    }
    auto [it, inserted] = seen.try_emplace(child->identity());
    if (!inserted) {
      if (!it->second.finished) {  // still on the stack: a cycle
        stats.cyclic = true;
        return stats;
      }
      f.depth = std::max(f.depth, it->second.depth + 1);
      f.expanded = add(f.expanded, it->second.expanded);
      continue;
    }
    stack.push_back(Frame{child});
  }
  const Done& root = seen[identity()];
  stats.depth = root.depth;
  stats.expanded = root.expanded;
  return stats;
}

// --- DictIndex ----------------------------------------------------------------------------------

DictIndex::DictIndex(Value dict) : dict_(std::move(dict)) {
  const auto& items = dict_.dict_items();
  for (size_t i = 0; i < items.size(); ++i) pos_[key_of(items[i].first)] = i;
}

std::string DictIndex::key_of(const Value& key) {
  std::string k(1, key.is_string() ? 's' : 'i');
  if (key.is_string()) return k.append(key.to_string());
  if (key.is_int()) return k.append(std::to_string(key.to_int()));
  TANDEM_FAIL("dict keys must be str or int, got ", key.kind());
}

bool DictIndex::contains(const Value& key) const { return pos_.count(key_of(key)) != 0; }

void DictIndex::set(Value key, Value value) {
  auto& items = dict_.dict_items();
  auto [it, inserted] = pos_.try_emplace(key_of(key), items.size());
  if (inserted)
    items.emplace_back(std::move(key), std::move(value));
  else
    items[it->second].second = std::move(value);
}

}  // namespace tandem
