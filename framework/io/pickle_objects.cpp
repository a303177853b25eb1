// Python objects in a torch.save pickle, read as data (see pickle_objects.h).
#include "framework/io/pickle_objects.h"

#include <algorithm>
#include <cstring>
#include <unordered_set>

#include "framework/core/checked_math.h"
#include "framework/io/npy.h"
#include "kernels/common/half.h"

namespace tandem::io::pickle {

namespace {

bool is_numpy_scalar(const std::string& g) {
  // numpy 1.x, and numpy 2's renamed core module
  return g == "numpy.core.multiarray.scalar" || g == "numpy._core.multiarray.scalar";
}

}  // namespace

Value ObjectTable::make(const std::string& cls, Value args) {
  Value attributes = Value::dict();
  objects_.emplace(attributes.identity(), Object{cls, std::move(args), Value()});
  return attributes;
}

Value ObjectTable::items_of(const Value& object) {
  Object& o = objects_.at(object.identity());
  if (o.items.is_none()) {
    o.items = Value::list();
    Value attributes = object;  // shares the dict
    DictIndex(attributes).set(Value("__items__"), o.items);
  }
  return o.items;
}

const ObjectTable::Object* ObjectTable::find(const Value& v) const {
  if (!v.is_dict()) return nullptr;
  auto it = objects_.find(v.identity());
  return it == objects_.end() ? nullptr : &it->second;
}

int ObjectTable::build(const Value& object, const Value& state) {
  Value attributes = object;     // shares the dict
  copied_ += attributes.size();  // indexing the attributes it has
  DictIndex index(attributes);
  const auto set_all = [&](const Value& d) {
    copied_ += d.size();
    for (const auto& [k, v] : d.dict_items()) index.set(k, v);
  };
  if (state.is_dict()) {
    set_all(state);
    return 0;
  }
  if (state.is_tuple() && state.size() == 2 &&
      (state.items()[0].is_dict() || state.items()[0].is_none()) && state.items()[1].is_dict()) {
    if (state.items()[0].is_dict()) set_all(state.items()[0]);
    set_all(state.items()[1]);
    return -1;
  }
  index.set(Value("__state__"), state);
  return 1;
}

Value ObjectTable::bytes(const std::string& raw) {
  std::string latin1;
  latin1.reserve(raw.size() * 2);
  for (unsigned char b : raw) {
    if (b < 0x80) {
      latin1 += char(b);
    } else {
      latin1 += char(0xc0 | (b >> 6));
      latin1 += char(0x80 | (b & 0x3f));
    }
  }
  return make("builtins.bytes", Value::tuple({Value(std::move(latin1))}));
}

std::string ObjectTable::raw_bytes(const Value& v, const char* what, uint64_t expected) const {
  const Object* o = find(v);
  // (NEWOBJ of builtins.bytes makes an object of that class with any arguments)
  if (!o || o->cls != "builtins.bytes" || o->args.size() != 1 || !o->args.items()[0].is_string())
    fail_(std::string(what) + " is not bytes");
  const std::string& text = o->args.items()[0].to_string();
  // At most two UTF-8 bytes a byte: a longer text (shared through the memo, perhaps, by many
  // values) is refused before it is decoded.
  if (text.size() / 2 > expected)
    fail_(std::string(what) + " holds more than the " + std::to_string(expected) +
          " bytes its dtype takes");
  std::string raw;
  raw.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      raw += char(c);
    } else if ((c == 0xc2 || c == 0xc3) && i + 1 < text.size()) {
      raw += char(((c & 0x03) << 6) | (static_cast<unsigned char>(text[++i]) & 0x3f));
    } else {
      fail_(std::string(what) + " holds a character beyond latin-1");
    }
  }
  return raw;
}

std::optional<Value> ObjectTable::known_reduce(const std::string& global,
                                               const std::vector<Value>& args) {
  if (global == "builtins.set" || global == "__builtin__.set" || global == "builtins.frozenset" ||
      global == "__builtin__.frozenset") {
    // set(iterable): read as a list of its items
    if (args.empty()) return Value::list();
    if (args.size() != 1 || !(args[0].is_list() || args[0].is_tuple()))
      fail_(global + " of something other than a list");
    copied_ += args[0].size();
    return Value(Value::List(args[0].items()));
  }
  if (global == "collections.defaultdict") return Value::dict();  // its factory is not kept
  // TorchScript's typed lists and type tags (torch/jit/_pickle.py): the value they wrap
  if (global == "torch.jit._pickle.build_intlist" ||
      global == "torch.jit._pickle.build_tensorlist" ||
      global == "torch.jit._pickle.build_doublelist" ||
      global == "torch.jit._pickle.build_boollist" ||
      global == "torch.jit._pickle.restore_type_tag") {
    if (args.empty()) fail_(global + " without a value");
    return args[0];
  }
  if (global == "torch.device") return device_string(args);
  if (global == "_codecs.encode") {  // protocol 2's bytes: encode(text, 'latin1')
    if (args.size() != 2 || !args[0].is_string() || !args[1].is_string() ||
        (args[1].to_string() != "latin1" && args[1].to_string() != "latin-1"))
      fail_("_codecs.encode other than of a string to latin1");
    return make("builtins.bytes", Value::tuple({args[0]}));
  }
  if (global == "numpy.dtype") return make(global, Value::tuple(args));  // BUILD adds the state
  if (is_numpy_scalar(global)) return numpy_scalar(args);
  if (global == "numpy.core.multiarray._reconstruct" ||
      global == "numpy._core.multiarray._reconstruct") {  // an array; BUILD gives its contents
    if (args.empty() || !args[0].is_string()) fail_(global + " of a non-class");
    return make(args[0].to_string(), Value::tuple({}));
  }
  if (global == "copyreg._reconstructor") {  // protocols 0 and 1: object.__new__(cls)
    if (args.size() != 3 || !args[0].is_string()) fail_("copyreg._reconstructor of a non-class");
    return make(args[0].to_string(), Value::tuple({}));
  }
  return std::nullopt;
}

Value ObjectTable::device_string(const std::vector<Value>& args) {
  // torch.device('cuda:1') or torch.device('cuda', 1)
  if (args.empty() || args.size() > 2 || !args[0].is_string() ||
      (args.size() == 2 && !args[1].is_int() && !args[1].is_none()))
    fail_("torch.device with unexpected arguments");
  std::string s = args[0].to_string();
  if (args.size() == 2 && args[1].is_int()) {
    s += ':';
    s += std::to_string(args[1].to_int());
  }
  return Value(std::move(s));
}

std::optional<ObjectTable::NumpyType> ObjectTable::numpy_type(const Value& dtype) const {
  // numpy.dtype('f8', False, True), whose BUILD state is (3, '<', ...): the byte order second.
  const Object* o = find(dtype);
  // (a real one has one attribute: a dtype with thousands is not searched once per scalar)
  if (!o || o->cls != "numpy.dtype" || o->args.size() < 1 || !o->args.items()[0].is_string() ||
      dtype.size() > 2)
    return std::nullopt;
  NumpyType t;
  t.code = o->args.items()[0].to_string();
  const Value* state = dtype.find(Value("__state__"));
  if (state && state->is_tuple() && state->size() > 1 && state->items()[1].is_string() &&
      state->items()[1].to_string().size() == 1)
    t.order = state->items()[1].to_string()[0];
  if (t.code.size() == 2 && std::string_view("biuf").find(t.code[0]) != std::string_view::npos &&
      t.code[1] >= '1' && t.code[1] <= '8')
    t.width = t.code[1] - '0';
  return t;
}

namespace {

// Big-endian elements ('>') to the little-endian order tandem and this CPU use.
void to_little_endian(std::string& raw, const char order, const size_t width) {
  if (order != '>' || width < 2) return;
  for (size_t i = 0; i + width <= raw.size(); i += width)
    std::reverse(raw.begin() + ptrdiff_t(i), raw.begin() + ptrdiff_t(i + width));
}

}  // namespace

Value ObjectTable::numpy_scalar(const std::vector<Value>& args) {
  // numpy.core.multiarray.scalar(dtype, bytes). A type tandem has no number for (a string, a
  // complex, an object) stays an object: {'__class__': 'numpy.generic', '__args__': ...}.
  if (args.size() != 2) fail_("numpy scalar with unexpected arguments");
  const std::optional<NumpyType> type = numpy_type(args[0]);
  if (!type) fail_("numpy scalar without a numpy.dtype");
  const auto other = [&] { return make("numpy.generic", Value::tuple(args)); };
  if (!type->width) return other();
  std::string raw = raw_bytes(args[1], "numpy scalar data", uint64_t(type->width));
  if (raw.size() != size_t(type->width))
    fail_("numpy scalar of dtype '" + type->code + "' with " + std::to_string(raw.size()) +
          " bytes");
  to_little_endian(raw, type->order, raw.size());
  uint64_t bits = 0;
  std::memcpy(&bits, raw.data(), raw.size());
  const int width = 8 * type->width;
  switch (type->code[0]) {
    case 'b':
      return Value(bits != 0);
    case 'u':
      if (width == 64 && bits >> 63) return other();  // beyond int64
      return Value(int64_t(bits));
    case 'i': {
      if (width < 64 && (bits >> (width - 1)) & 1) bits |= ~uint64_t(0) << width;  // sign
      return Value(int64_t(bits));
    }
    case 'f':
      if (width == 16) return Value(double(kernels::half_to_float(kernels::Half{uint16_t(bits)})));
      if (width == 32) {
        float f;
        std::memcpy(&f, raw.data(), 4);
        return Value(double(f));
      }
      if (width == 64) {
        double d;
        std::memcpy(&d, raw.data(), 8);
        return Value(d);
      }
      break;
    default:
      break;
  }
  return other();
}

std::optional<Value> ObjectTable::numpy_array(const Value& array) {
  // numpy.core.multiarray._reconstruct(ndarray, (0,), b'b'), then BUILD with
  // (1, shape, dtype, is_fortran, data). Arrays of a type tandem has no tensor for (strings,
  // objects, uint16, ...) stay objects.
  const Value* state = array.find(Value("__state__"));
  if (!state || !state->is_tuple() || state->size() != 5) return std::nullopt;
  const auto& s = state->items();
  if (!(s[1].is_tuple() || s[1].is_list()) || s[1].size() > 64 || !s[3].is_bool())
    return std::nullopt;
  const std::optional<NumpyType> type = numpy_type(s[2]);
  if (!type || !type->width) return std::nullopt;
  std::string descr(1, type->width == 1 ? '|' : '<');
  descr += type->code;
  const std::optional<DType> dtype = npy_dtype(descr);
  const Object* data = find(s[4]);
  if (!dtype || !data || data->cls != "builtins.bytes") return std::nullopt;
  Shape shape;
  for (const Value& n : s[1].items()) {
    if (!n.is_int() || n.to_int() < 0) fail_("numpy array with a shape of " + s[1].repr(200));
    shape.push_back(n.to_int());
  }
  const std::optional<int64_t> numel = checked_numel(shape);
  const std::optional<uint64_t> nbytes =
      numel ? checked_bytes(*numel, size_t(type->width)) : std::nullopt;
  if (!nbytes) fail_("numpy array of shape " + s[1].repr(200) + ": too many elements");
  // Arrays sharing one memoized data object would each copy it: together they stay within the
  // budget the reader gives (a multiple of the pickle's size).
  array_bytes_ += *nbytes;
  if (array_bytes_ > array_budget_)
    fail_("numpy arrays hold more than " + std::to_string(array_budget_) + " bytes together");
  std::string raw = raw_bytes(s[4], "numpy array data", *nbytes);
  if (*nbytes != raw.size())
    fail_("numpy array of shape " + s[1].repr(200) + " and dtype '" + type->code + "' with " +
          std::to_string(raw.size()) + " bytes");
  to_little_endian(raw, type->order, size_t(type->width));
  Shape stride(shape.size());
  int64_t step = 1;
  for (size_t k = 0; k < shape.size(); ++k) {  // C order: the last dimension is contiguous
    const size_t i = s[3].to_bool() ? k : shape.size() - 1 - k;
    stride[i] = step;
    step *= std::max<int64_t>(shape[i], 1);
  }
  auto storage = std::make_shared<StorageImpl>(raw.size(), kCPU);
  if (!raw.empty()) std::memcpy(storage->data(), raw.data(), raw.size());
  return Value(Tensor(std::make_shared<TensorImpl>(storage, shape, stride, 0, *dtype)));
}

Value ObjectTable::lower(const Value& root, uint64_t array_budget) {
  array_budget_ = array_budget;
  array_bytes_ = 0;
  std::unordered_map<const void*, Value> done;
  return lower_value(root, done);
}

Value ObjectTable::lower_value(const Value& v, std::unordered_map<const void*, Value>& done) {
  if (!v.is_container()) return v;
  if (auto it = done.find(v.identity()); it != done.end()) return it->second;
  if (const Object* o = find(v)) {
    if (o->cls == "numpy.ndarray")
      if (std::optional<Value> t = numpy_array(v)) {
        done.emplace(v.identity(), *t);
        return *t;
      }
    Value out = Value::dict();
    DictIndex index(out);
    const Value* params = v.find(Value("_parameters"));
    const Value* modules = v.find(Value("_modules"));
    if (params && params->is_dict() && modules && modules->is_dict()) {
      add_module_state(v, "", index);
    } else if (is_script_module(*o, v)) {
      add_script_module_state(v, "", index);
    } else {
      index.set(Value("__class__"), Value(o->cls));
      if (o->args.size() > 0) index.set(Value("__args__"), lower_value(o->args, done));
      for (const auto& [k, x] : v.dict_items()) index.set(k, lower_value(x, done));
    }
    done.emplace(v.identity(), out);
    return out;
  }
  done.emplace(v.identity(), v);
  Value shared = v;  // the same container: lowered in place
  if (shared.is_dict()) {
    for (auto& [k, x] : shared.dict_items()) x = lower_value(x, done);
  } else {
    for (auto& x : shared.items()) x = lower_value(x, done);
  }
  return v;
}

bool ObjectTable::is_script_module(const Object& o, const Value& attributes) const {
  const Value* training = attributes.find(Value("training"));
  return o.cls.rfind("__torch__.", 0) == 0 && training && training->is_bool();
}

void ObjectTable::add_script_module_state(const Value& module, const std::string& prefix,
                                          DictIndex& out) const {
  // A TorchScript module pickles its parameters, buffers and submodules as plain attributes, in
  // the order its type declares them: its tensors first, then its submodules', as state_dict.
  // (Non-persistent buffers are listed too, as ScriptModule.state_dict() lists them.)
  for (const auto& [k, x] : module.dict_items())
    if (x.is_tensor() && k.is_string()) out.set(Value(prefix + k.to_string()), x);
  for (const auto& [k, x] : module.dict_items())
    if (const Object* child = find(x); child && k.is_string() && is_script_module(*child, x))
      add_script_module_state(x, prefix + k.to_string() + ".", out);
}

void ObjectTable::add_module_state(const Value& module, const std::string& prefix,
                                   DictIndex& out) const {
  // As Module.state_dict: _save_to_state_dict's parameters and persistent buffers, then the
  // children. (A class that overrides _save_to_state_dict is not asked: nothing runs here.)
  const auto entries = [&](const char* name) -> const Value::Dict* {
    const Value* d = module.find(Value(name));
    return d && d->is_dict() ? &d->dict_items() : nullptr;
  };
  const auto key = [&](const Value& k) {
    if (!k.is_string()) fail_(std::string("a module entry keyed by a ") + k.kind());
    return prefix + k.to_string();
  };
  if (const auto* params = entries("_parameters"))
    for (const auto& [k, p] : *params)
      if (p.is_tensor()) out.set(Value(key(k)), p);
  std::unordered_set<std::string> non_persistent;
  if (const Value* s = module.find(Value("_non_persistent_buffers_set"));
      s && (s->is_list() || s->is_tuple()))
    for (const auto& n : s->items())
      if (n.is_string()) non_persistent.insert(n.to_string());
  if (const auto* buffers = entries("_buffers"))
    for (const auto& [k, b] : *buffers)
      if (b.is_tensor() && !(k.is_string() && non_persistent.count(k.to_string())))
        out.set(Value(key(k)), b);
  if (const auto* children = entries("_modules"))
    for (const auto& [k, child] : *children)
      if (find(child)) add_module_state(child, key(k) + ".", out);
}

}  // namespace tandem::io::pickle
