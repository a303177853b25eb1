// Value accessors and printing.
#include "framework/core/value.h"

#include <sstream>

namespace tandem {

Value Value::tuple(std::vector<Value> items) {
  Value v;
  v.v_ = std::make_shared<Tuple>(Tuple{std::move(items)});
  return v;
}

const char* Value::kind() const {
  static const char* names[] = {"None", "bool", "int", "float", "str", "Tensor", "list", "tuple", "dict"};
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
const std::string& Value::to_string() const {
  if (!is_string()) wrong_kind(*this, "str");
  return std::get<std::string>(v_);
}
const Tensor& Value::to_tensor() const {
  if (!is_tensor()) wrong_kind(*this, "Tensor");
  return std::get<Tensor>(v_);
}
const std::vector<Value>& Value::items() const {
  if (is_list()) return *std::get<std::shared_ptr<List>>(v_);
  if (is_tuple()) return std::get<std::shared_ptr<Tuple>>(v_)->items;
  wrong_kind(*this, "list or tuple");
}
std::vector<Value>& Value::items() {
  if (is_list()) return *std::get<std::shared_ptr<List>>(v_);
  if (is_tuple()) return std::get<std::shared_ptr<Tuple>>(v_)->items;
  wrong_kind(*this, "list or tuple");
}
void Value::append(Value v) {
  if (!is_list()) wrong_kind(*this, "list");
  std::get<std::shared_ptr<List>>(v_)->push_back(std::move(v));
}
const Value::Dict& Value::dict_items() const {
  if (!is_dict()) wrong_kind(*this, "dict");
  return *std::get<std::shared_ptr<Dict>>(v_);
}
Value::Dict& Value::dict_items() {
  if (!is_dict()) wrong_kind(*this, "dict");
  return *std::get<std::shared_ptr<Dict>>(v_);
}
const Value* Value::find(const Value& key) const {
  for (const auto& [k, v] : dict_items())
    if (k == key) return &v;
  return nullptr;
}
bool Value::contains(const Value& key) const { return find(key) != nullptr; }
const Value& Value::at(const Value& key) const {
  const Value* v = find(key);
  TANDEM_CHECK(v != nullptr, "key ", key.repr(), " not found");
  return *v;
}
Value& Value::at(const Value& key) { return const_cast<Value&>(std::as_const(*this).at(key)); }
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
  if (v_.index() != o.v_.index()) return false;
  if (is_none()) return true;
  if (is_bool()) return to_bool() == o.to_bool();
  if (is_int()) return to_int() == o.to_int();
  if (is_double()) return to_double() == o.to_double();
  if (is_string()) return to_string() == o.to_string();
  if (is_tensor()) return to_tensor().is_same(o.to_tensor());
  if (is_list() || is_tuple()) return items() == o.items();
  return dict_items() == o.dict_items();
}

std::string Value::repr() const {
  std::ostringstream os;
  if (is_none()) os << "None";
  else if (is_bool()) os << (to_bool() ? "True" : "False");
  else if (is_int()) os << to_int();
  else if (is_double()) os << to_double();
  else if (is_string()) os << "'" << to_string() << "'";
  else if (is_tensor()) os << "tensor(" << shape_str(to_tensor().sizes()) << ", " << dtype_name(to_tensor().dtype()) << ")";
  else if (is_list() || is_tuple()) {
    os << (is_list() ? "[" : "(");
    for (size_t i = 0; i < items().size(); ++i) os << (i ? ", " : "") << items()[i].repr();
    if (is_tuple() && items().size() == 1) os << ",";
    os << (is_list() ? "]" : ")");
  } else {
    os << "{";
    bool first = true;
    for (const auto& [k, v] : dict_items()) {
      os << (first ? "" : ", ") << k.repr() << ": " << v.repr();
      first = false;
    }
    os << "}";
  }
  return os.str();
}

}  // namespace tandem
