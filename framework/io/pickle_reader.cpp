// The restricted unpickler of torch.save's data.pkl (see torch_file.h): the opcodes and globals
// of PyTorch's weights_only loader that state_dicts and checkpoints use (reference §5.4), plus
// instances of classes read as inert data (pickle_objects.h: `torch.save(model)` reads as the
// model's state_dict). It never calls anything a file names: REDUCE is honoured only for the
// constructors whose result it knows. It is linear in its input: a stack of items instead of
// recursion, dict keys found by hash, GLOBAL lines of bounded length. The Value it returns is
// checked before anyone sees it: no container contains itself, nesting stays within kMaxValueDepth,
// shared (memoized) containers do not expand the tree beyond a small multiple of the file, strings
// are UTF-8, and every tensor view lies inside its storage (sizes, strides and offsets multiplied
// without overflow).
#include <algorithm>
#include <cstring>
#include <unordered_map>

#include "framework/core/checked_math.h"
#include "framework/core/text.h"
#include "framework/io/pickle.h"
#include "framework/io/pickle_objects.h"
#include "framework/io/torch_file.h"

namespace tandem::io {
namespace {

using pickle::storage_type;

constexpr size_t kMaxDims = 64;                // more than any tensor PyTorch can make
constexpr size_t kMaxGlobalLine = 256;         // "module\nname\n" lines of a GLOBAL opcode
constexpr uint64_t kExpansionSlack = 100'000;  // values shared memo entries may add, beyond...
constexpr uint64_t kExpansionFactor = 4;       // ...this many per opcode in the file
// Bounds on what a file can make this reader hold (a MARK flood, a memo of millions of entries):
// far beyond any checkpoint's (a state dict's pickle stack holds a batch of 1,000 items; its memo
// a few entries per tensor) and above the million levels of nesting the depth check refuses
// (two items a level), they cap the memory at about a GB whatever the file's size.
constexpr size_t kMaxStack = 4'000'000;
constexpr size_t kMaxMemo = 4'000'000;

// One entry of the pickle stack, kept small: a MARK flood puts millions of them there.
struct Item {
  enum Kind : uint8_t { Val, Mark, Global, StorageRef };
  Kind kind = Val;
  // Container levels in `value` as built on the stack so far (0: not a container): a lower
  // bound of its depth (a memoized container may still grow elsewhere), which lets a deeply
  // nested file be refused at the first level too many instead of after building all of it.
  uint32_t depth = 0;
  // A tuple built here: its items (globals, storages) in raw_tuples_; a StorageRef: its storage
  // in storage_refs_.
  int64_t index = -1;
  Value value;  // Global: "module.name"
};

class Unpickler {
 public:
  Unpickler(std::string_view data, size_t start, StorageLoader load_storage, std::string name)
      : d_(data),
        start_(start),
        pos_(start),
        load_storage_(std::move(load_storage)),
        name_(std::move(name)) {}

  size_t end() const { return pos_; }  // after STOP, once run() returned

  Value run() {
    try {
      Value result = parse();
      check_graph(result);
      // A numpy array's bytes are in the pickle: all of them fit in a multiple of its size.
      return objects_.lower(result, kExpansionSlack + kExpansionFactor * (pos_ - start_));
    } catch (...) {
      break_cycles();
      throw;
    }
  }

 private:
  Value parse() {
    while (true) {
      if (stack_.size() > kMaxStack)
        fail("the pickle stack holds more than " + std::to_string(kMaxStack) + " items");
      if (memo_.size() > kMaxMemo)
        fail("the pickle memo holds more than " + std::to_string(kMaxMemo) + " entries");
      const uint8_t op = u8();
      ++ops_;
      switch (op) {
        case 0x80:  // PROTO
          u8();
          break;
        case '.':  // STOP
          if (stack_.size() == 1 && stack_.back().kind == Item::Global)
            fail("the pickle's result is the global " + stack_.back().value.to_string() +
                 ", not data");
          if (stack_.size() != 1 || stack_.back().kind != Item::Val)
            fail("malformed pickle at STOP");
          return stack_.back().value;
        case 'c': {  // GLOBAL "module\nname\n"
          const std::string module = line(), name = line();
          push_global(module, name, "GLOBAL");
          break;
        }
        case 0x93: {  // STACK_GLOBAL (protocol 4): module and name from the stack
          const Value name = pop_value(), module = pop_value();
          if (!module.is_string() || !name.is_string())
            fail("STACK_GLOBAL of a non-string module or name");
          push_global(module.to_string(), name.to_string(), "STACK_GLOBAL");
          break;
        }
        case 0x95:  // FRAME (protocol 4): a length hint for buffered readers; every read is
          le(8);    // bounds-checked anyway, so a wrong hint is harmless
          break;
        case 0x94:  // MEMOIZE (protocol 4): BINPUT at the next free index
          memo_[memo_.size()] = top("MEMOIZE");
          break;
        case 0x8f:  // EMPTY_SET: read as a list
          push_container(Value::list());
          break;
        case 0x90:  // ADDITEMS
          append_to_mark("ADDITEMS");
          break;
        case 0x91: {  // FROZENSET: read as a list
          const auto items = pop_to_mark();
          push_container(Value::list());
          append_items("FROZENSET", items);
          break;
        }
        case 0x81:  // NEWOBJ: cls.__new__(cls, *args)
          new_object("NEWOBJ", {});
          break;
        case 0x92: {  // NEWOBJ_EX: cls.__new__(cls, *args, **kwargs)
          Item kwargs = pop();
          new_object("NEWOBJ_EX", std::move(kwargs));
          break;
        }
        case 'C':  // SHORT_BINBYTES
          push_bytes(u8());
          break;
        case 'B':  // BINBYTES
          push_bytes(le(4));
          break;
        case 0x8e:  // BINBYTES8
          push_bytes(le(8));
          break;
        case 'R':
          reduce();
          break;
        case 'b':
          build();
          break;
        case 'a':  // APPEND
          append_items("APPEND", {pop()});
          break;
        case 'e':  // APPENDS
          append_to_mark("APPENDS");
          break;
        case 's': {  // SETITEM
          Item v = pop();
          Value k = pop_value();
          Item& d = top_value("SETITEM");
          dict_set(d.value, std::move(k), as_value(v));
          nest(d, v);
          break;
        }
        case 'u': {  // SETITEMS
          auto items = pop_to_mark();
          if (items.size() % 2) fail("SETITEMS with an odd number of items");
          Item& d = top_value("SETITEMS");
          for (size_t i = 0; i < items.size(); i += 2) {
            dict_set(d.value, as_value(items[i]), as_value(items[i + 1]));
            nest(d, items[i + 1]);
          }
          break;
        }
        case '(': {  // MARK
          Item m;
          m.kind = Item::Mark;
          stack_.push_back(std::move(m));
          break;
        }
        case 't':
          stack_.push_back(tuple_of(pop_to_mark()));
          break;
        case 0x85:
          stack_.push_back(tuple_of(pop_n(1)));
          break;
        case 0x86:
          stack_.push_back(tuple_of(pop_n(2)));
          break;
        case 0x87:
          stack_.push_back(tuple_of(pop_n(3)));
          break;
        case ')':
          stack_.push_back(tuple_of({}));
          break;
        case ']':
          push_container(Value::list());
          break;
        case '}':
          push_container(Value::dict());
          break;
        case 'N':
          push(Value());
          break;
        case 0x88:
          push(Value(true));
          break;
        case 0x89:
          push(Value(false));
          break;
        case 'J':
          push(Value(int64_t(int32_t(le(4)))));
          break;
        case 'K':
          push(Value(int64_t(u8())));
          break;
        case 'M':
          push(Value(int64_t(le(2))));
          break;
        case 0x8a: {  // LONG1
          const size_t n = u8();
          if (n > 8) fail("integer wider than 64 bits (LONG1 of " + std::to_string(n) + " bytes)");
          uint64_t v = le(n);
          if (n > 0 && n < 8 && (v >> (8 * n - 1)) & 1) v |= ~uint64_t(0) << (8 * n);  // sign
          push(Value(int64_t(v)));
          break;
        }
        case 'G': {  // BINFLOAT, big-endian double
          uint64_t bits = 0;
          for (int i = 0; i < 8; ++i) bits = (bits << 8) | u8();
          double v;
          std::memcpy(&v, &bits, 8);
          push(Value(v));
          break;
        }
        case 'X':  // BINUNICODE
          push(Value(text(le(4))));
          break;
        case 0x8c:  // SHORT_BINUNICODE (protocol 4)
          push(Value(text(u8())));
          break;
        case 0x8d:  // BINUNICODE8 (protocol 4)
          push(Value(text(le(8))));
          break;
        case 'U':  // SHORT_BINSTRING (decoded as UTF-8, torch.load's default encoding)
          push(Value(text(u8())));
          break;
        case 'Q':  // BINPERSID
          persistent_load();
          break;
        case 'q':  // BINPUT
          memo_[le(1)] = top("BINPUT");
          break;
        case 'r':  // LONG_BINPUT
          memo_[le(4)] = top("LONG_BINPUT");
          break;
        case 'h':  // BINGET
          stack_.push_back(memo_get(le(1)));
          break;
        case 'j':  // LONG_BINGET
          stack_.push_back(memo_get(le(4)));
          break;
        default: {
          fail(std::string("Unsupported operand ") + hex(op) + " ('" +
               (op >= 32 && op < 127 ? std::string(1, char(op)) : "?") + "') at byte " +
               std::to_string(pos_ - 1) + ": not in the weights-only subset");
        }
      }
    }
  }

  static std::string hex(uint8_t op) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "0x%02x", op);
    return buf;
  }

  void push_global(const std::string& module, const std::string& name, const char* op) {
    if (module.size() + name.size() > kMaxGlobalLine)
      fail(std::string(op) + " with a name of " + std::to_string(module.size() + name.size()) +
           " bytes");
    // Any name may be pushed: a global is only a name here. What the reader does with it is
    // limited: REDUCE calls only the known constructors, NEWOBJ records an instance of it.
    Item it;
    it.kind = Item::Global;
    it.value = Value(module + "." + name);
    stack_.push_back(std::move(it));
  }

  [[noreturn]] void fail(const std::string& what) const {
    throw Error(name_ + ": refusing to load: " + what,
                "only tensors, containers, numbers and objects' attributes are read from .pt "
                "files; no function in them is called");
  }

  // --- reading bytes ---
  uint8_t u8() {
    if (pos_ >= d_.size()) fail("truncated pickle");
    return uint8_t(d_[pos_++]);
  }
  uint64_t le(size_t n) {
    if (n > d_.size() - pos_) fail("truncated pickle");
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v |= uint64_t(uint8_t(d_[pos_ + i])) << (8 * i);
    pos_ += n;
    return v;
  }
  std::string text(uint64_t n) {
    if (n > d_.size() - pos_)
      fail("string length " + std::to_string(n) + " runs past the end of the pickle");
    std::string s(d_.substr(pos_, size_t(n)));
    size_t bad = 0;
    if (!is_valid_utf8(s, &bad))
      fail("the string at byte " + std::to_string(pos_) + " is not valid UTF-8 (byte " +
           std::to_string(pos_ + bad) + ")");
    pos_ += size_t(n);
    return s;
  }
  std::string line() {
    const size_t window = std::min(d_.size() - pos_, kMaxGlobalLine + 1);
    const void* nl = std::memchr(d_.data() + pos_, '\n', window);
    if (!nl) fail("malformed GLOBAL at byte " + std::to_string(pos_));
    const size_t end = size_t(static_cast<const char*>(nl) - d_.data());
    std::string s(d_.substr(pos_, end - pos_));
    pos_ = end + 1;
    return s;
  }

  // --- the stack ---
  void push(Value v) {
    Item it;
    it.value = std::move(v);
    stack_.push_back(std::move(it));
  }
  // Every container built here is remembered, so a failure can empty them all: a container
  // that contains itself would otherwise never be freed.
  Value container(Value v) {
    containers_.push_back(v);
    return v;
  }
  void push_container(Value v) {
    push(container(std::move(v)));
    stack_.back().depth = 1;
  }
  // `outer` now holds `inner`: its depth is at least one more than inner's.
  void nest(Item& outer, const Item& inner) {
    outer.depth = std::max(outer.depth, inner.depth + 1);  // stops at kMaxValueDepth + 1
    if (outer.depth > kMaxValueDepth)
      fail("containers nest more than " + std::to_string(kMaxValueDepth) + " levels deep");
  }
  Item pop() {
    if (stack_.empty()) fail("stack underflow");
    Item it = std::move(stack_.back());
    stack_.pop_back();
    return it;
  }
  // APPENDS, and ADDITEMS (a set reads as a list): the items above the MARK into the list below.
  void append_to_mark(const char* op) { append_items(op, pop_to_mark()); }
  // `items` into the list on top, or into the items of an instance of a list subclass.
  void append_items(const char* op, const std::vector<Item>& items) {
    Item& target = top_value(op);
    Value list = target.value;  // shares the container
    if (objects_.is_object(list))
      list = objects_.items_of(list);
    else if (!list.is_list())
      fail(std::string(op) + " on a " + list.kind() + ", not a list");
    for (const auto& i : items) {
      list.append(as_value(i));
      nest(target, i);
    }
  }
  const Item& top(const char* op) {
    if (stack_.empty()) fail(std::string(op) + " on an empty stack");
    return stack_.back();
  }
  Item& top_value(const char* op) {
    if (stack_.empty() || stack_.back().kind != Item::Val)
      fail(std::string(op) + " on a non-container");
    return stack_.back();
  }
  // A global used as a value (a module's activation function, a dtype such as torch.float16)
  // reads as its name.
  Value as_value(const Item& it) {
    if (it.kind == Item::Global) return it.value;
    if (it.kind != Item::Val) fail("a storage or MARK used as a value");
    return it.value;
  }
  Value pop_value() { return as_value(pop()); }
  std::vector<Item> pop_to_mark() {
    size_t mark = stack_.size();
    while (mark > 0 && stack_[mark - 1].kind != Item::Mark) --mark;
    if (mark == 0) fail("MARK not found");
    std::vector<Item> items(std::make_move_iterator(stack_.begin() + ptrdiff_t(mark)),
                            std::make_move_iterator(stack_.end()));
    stack_.resize(mark - 1);
    return items;
  }
  std::vector<Item> pop_n(size_t n) {
    if (stack_.size() < n) fail("stack underflow");
    std::vector<Item> items(std::make_move_iterator(stack_.end() - ptrdiff_t(n)),
                            std::make_move_iterator(stack_.end()));
    stack_.resize(stack_.size() - n);
    return items;
  }
  // Tuples may hold storages and globals (a persistent id, _rebuild_tensor_v2's arguments):
  // those stay in raw_tuples_; the tuple Value holds None in their place.
  Item tuple_of(std::vector<Item> items) {
    std::vector<Value> vals;
    vals.reserve(items.size());
    for (const auto& i : items)
      vals.push_back(i.kind == Item::Val || i.kind == Item::Global ? i.value : Value());
    Item t;
    t.depth = 1;
    for (const auto& i : items) nest(t, i);
    t.value = container(Value::tuple(std::move(vals)));
    t.index = int64_t(raw_tuples_.size());
    raw_tuples_.push_back(std::move(items));
    return t;
  }
  const std::vector<Item>& raw_tuple(const Item& t) {
    if (t.kind != Item::Val || t.index < 0) fail("expected a tuple");
    return raw_tuples_[size_t(t.index)];
  }
  Item memo_get(uint64_t k) {
    auto it = memo_.find(k);
    if (it == memo_.end()) fail("memo key " + std::to_string(k) + " not found");
    return it->second;
  }
  void dict_set(Value& d, Value k, Value v) {
    if (!d.is_dict()) fail(std::string("SETITEM on a ") + d.kind() + ", not a dict");
    if (!(k.is_string() || k.is_int())) fail(std::string("dict key of type ") + k.kind());
    auto it = indexes_.find(d.identity());
    if (it == indexes_.end()) it = indexes_.emplace(d.identity(), DictIndex(d)).first;
    it->second.set(std::move(k), std::move(v));
  }

  // --- storages, tensors, objects ---
  void persistent_load() {
    const Item pid = pop();
    const auto& parts = raw_tuple(pid);
    // The legacy format's whole modules: ('module', class, source file, source) stands for the
    // class, which NEWOBJ then instantiates (as data, like any class).
    if (parts.size() == 4 && parts[0].kind == Item::Val && parts[0].value.is_string() &&
        parts[0].value.to_string() == "module" && parts[1].kind == Item::Global) {
      stack_.push_back(parts[1]);
      return;
    }
    if (parts.size() < 5 || parts[0].kind != Item::Val || !parts[0].value.is_string() ||
        parts[0].value.to_string() != "storage")
      fail("persistent id is not a ('storage', ...) tuple");
    // The legacy format's sixth item, view_metadata, is set only for a storage that is a slice
    // of another (PyTorch before 0.4).
    if (parts.size() > 5 && !(parts[5].kind == Item::Val && parts[5].value.is_none()))
      fail("a storage that is a view of another (view_metadata): not read");
    if (parts[1].kind != Item::Global || !storage_type(parts[1].value.to_string()))
      fail("persistent id without a storage type");
    const DType dt = storage_type(parts[1].value.to_string())->dtype;
    const Value key_v = as_value(parts[2]), numel_v = as_value(parts[4]);
    if (!key_v.is_string() || !numel_v.is_int()) fail("persistent id with a malformed key or size");
    const std::string& key = key_v.to_string();
    const std::optional<uint64_t> nbytes = checked_bytes(numel_v.to_int(), element_size(dt));
    if (!nbytes)
      fail("storage '" + key + "' declares an impossible size of " +
           std::to_string(numel_v.to_int()) + " elements");
    auto it = storages_.find(key);
    if (it == storages_.end()) {
      Storage s = load_storage_(key, dt, *nbytes);
      if (!s || uint64_t(s->nbytes()) != *nbytes)
        fail("storage '" + key + "' has " + std::to_string(s ? s->nbytes() : 0) +
             " bytes, expected " + std::to_string(*nbytes));
      it = storages_.emplace(key, std::make_pair(std::move(s), dt)).first;
    }
    Item st;
    st.kind = Item::StorageRef;
    st.index = int64_t(storage_refs_.size());
    storage_refs_.push_back(it->second);
    stack_.push_back(std::move(st));
  }

  Shape int_tuple(const Item& it, const char* what) {
    const Value v = as_value(it);
    if (!v.is_tuple() && !v.is_list()) fail(std::string("tensor ") + what + " is not a tuple");
    if (v.size() > kMaxDims)
      fail(std::string("tensor ") + what + " has " + std::to_string(v.size()) + " dimensions");
    Shape out;
    for (const auto& x : v.items()) {
      if (!x.is_int()) fail(std::string("tensor ") + what + " holds a " + x.kind());
      out.push_back(x.to_int());
    }
    return out;
  }

  // _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks), or PyTorch 0.3's
  // _rebuild_tensor(storage, offset, size, stride): the view of the storage either way.
  void rebuild_tensor(const std::vector<Item>& a, const std::string& global) {
    if (a.size() < 4 || a[0].kind != Item::StorageRef) fail(global + " with unexpected arguments");
    const Value offset_v = as_value(a[1]);
    if (!offset_v.is_int()) fail("tensor storage offset is not an integer");
    const int64_t offset = offset_v.to_int();
    const Shape size = int_tuple(a[2], "size"), stride = int_tuple(a[3], "stride");
    if (size.size() != stride.size()) fail("tensor size and stride differ in length");
    // The furthest element must lie inside the storage, computed without overflow: a stride of
    // 2^62 + 1 must not wrap around to an address that passes the check.
    const std::optional<int64_t> extent = checked_view_extent(size, stride, offset);
    const auto& [storage, dtype] = storage_refs_[size_t(a[0].index)];
    const int64_t capacity = int64_t(storage->nbytes() / element_size(dtype));
    if (!extent || *extent > capacity)
      fail("tensor view outside its storage (size " + shape_str(size) + ", stride " +
           shape_str(stride) + ", offset " + std::to_string(offset) + ", storage of " +
           std::to_string(capacity) + " elements)");
    push(Value(Tensor(std::make_shared<TensorImpl>(storage, size, stride, offset, dtype))));
  }

  void reduce() {
    const Item args = pop();
    const Item fn = pop();
    const std::string global = fn.kind == Item::Global ? fn.value.to_string() : std::string();
    if (fn.kind != Item::Global) fail("REDUCE of a non-global");
    const auto& a = raw_tuple(args);
    if (global == "collections.OrderedDict") {
      if (!a.empty()) fail("OrderedDict with arguments");
      push_container(Value::dict());
    } else if (global == "collections.Counter") {
      if (a.empty()) {
        push_container(Value::dict());
      } else {
        Value d = as_value(a[0]);
        if (!d.is_dict()) fail(std::string("Counter of a ") + d.kind());
        push(d);
        stack_.back().depth = a[0].depth;
      }
    } else if (global == "torch.Size") {  // torch.Size((1, 8, 8)): read as the tuple
      if (a.size() != 1) fail("torch.Size with " + std::to_string(a.size()) + " arguments");
      const Value dims = as_value(a[0]);
      if (!dims.is_tuple() && !dims.is_list()) fail(std::string("torch.Size of a ") + dims.kind());
      for (const auto& x : dims.items())
        if (!x.is_int()) fail(std::string("torch.Size holding a ") + x.kind());
      push_container(Value::tuple(dims.items()));
    } else if (global == "torch._utils._rebuild_tensor_v2" ||
               global == "torch._utils._rebuild_tensor") {
      rebuild_tensor(a, global);
    } else if (global == "torch._utils._rebuild_parameter" ||
               global == "torch._utils._rebuild_parameter_with_state") {
      if (a.empty() || a[0].kind != Item::Val || !a[0].value.is_tensor())
        fail("_rebuild_parameter without a tensor");
      push(a[0].value);
    } else {
      std::vector<Value> values;
      values.reserve(a.size());
      for (const auto& i : a) values.push_back(as_value(i));
      std::optional<Value> made = objects_.known_reduce(global, values);
      if (!made)
        fail("calling " + global +
             " (REDUCE) is not allowed: tandem never calls a function from a file");
      push_made(std::move(*made), args.depth);
      check_copies();
    }
  }

  // Objects' attributes and sets copy values that may come from the memo, again and again: the
  // copies stay within the budget the shared-container check uses.
  void check_copies() {
    const uint64_t budget = kExpansionSlack + kExpansionFactor * ops_;
    if (objects_.copied() > budget)
      fail("objects' attributes and sets copy more than " + std::to_string(budget) +
           " values, from " + std::to_string(ops_) + " opcodes");
  }

  // NEWOBJ and NEWOBJ_EX: an instance of the class below the arguments, with nothing run.
  void new_object(const char* op, Item kwargs) {
    const Item args = pop();
    const Item cls = pop();
    if (cls.kind != Item::Global) fail(std::string(op) + " of a non-class");
    raw_tuple(args);  // must be a tuple
    push_made(objects_.make(cls.value.to_string(), args.value), std::max(args.depth, kwargs.depth));
  }

  void push_bytes(uint64_t n) {
    if (n > d_.size() - pos_)
      fail("bytes of length " + std::to_string(n) + " run past the end of the pickle");
    const std::string raw(d_.substr(pos_, size_t(n)));
    pos_ += size_t(n);
    push_made(objects_.bytes(raw), 1);
  }

  // A value made from arguments nesting `depth` levels: a container made here holds them.
  void push_made(Value v, uint32_t depth) {
    const bool is_container = v.is_container();
    push(is_container ? container(std::move(v)) : std::move(v));
    if (is_container) {
      Item inner;
      inner.depth = depth;
      stack_.back().depth = 1;
      nest(stack_.back(), inner);
    }
  }

  void build() {
    const Item state = pop();
    Item& target = top_value("BUILD");
    if (objects_.is_object(target.value)) {
      const int deeper = objects_.build(target.value, as_value(state));
      Item level;  // what the object's entries now nest like
      level.depth = uint32_t(std::max<int64_t>(0, int64_t(state.depth) + deeper - 1));
      nest(target, level);
      check_copies();
    } else if (!target.value.is_dict()) {  // an OrderedDict's _metadata: nothing tandem needs
      fail(std::string("BUILD on a ") + target.value.kind());
    }
  }

  // --- the result ---
  void check_graph(const Value& result) {
    const ValueGraphStats s = result.graph_stats();
    if (s.cyclic) fail("a container contains itself (a cycle through the memo)");
    if (s.depth > kMaxValueDepth)
      fail("containers nest " + std::to_string(s.depth) + " levels deep (at most " +
           std::to_string(kMaxValueDepth) + ")");
    const uint64_t budget = kExpansionSlack + kExpansionFactor * ops_;
    if (s.expanded > budget)
      fail("shared (memoized) containers expand to more than " + std::to_string(budget) +
           " values, from " + std::to_string(ops_) + " opcodes");
  }
  // Empties every container built here, which frees any cycle among them.
  void break_cycles() {
    for (auto& c : containers_) {
      if (c.is_dict())
        c.dict_items().clear();
      else
        c.items().clear();
    }
  }

  std::string_view d_;
  size_t start_ = 0;  // where this pickle begins in d_
  size_t pos_ = 0;
  uint64_t ops_ = 0;
  StorageLoader load_storage_;
  std::string name_;
  std::vector<Item> stack_;
  std::unordered_map<uint64_t, Item> memo_;
  std::vector<std::vector<Item>> raw_tuples_;
  std::vector<Value> containers_;
  std::unordered_map<const void*, DictIndex> indexes_;
  std::unordered_map<std::string, std::pair<Storage, DType>> storages_;
  std::vector<std::pair<Storage, DType>> storage_refs_;  // one per BINPERSID
  pickle::ObjectTable objects_{[this](const std::string& what) { fail(what); }};
};

}  // namespace

Value unpickle_at(std::string_view data, size_t* pos, const StorageLoader& load_storage,
                  const std::string& name) {
  Unpickler reader(data, *pos, load_storage, name);
  Value v = reader.run();
  *pos = reader.end();
  return v;
}

Value unpickle(const std::string& pickle,
               const std::function<std::string(const std::string&)>& storage_bytes,
               const std::string& name) {
  size_t pos = 0;
  return unpickle_at(
      pickle, &pos,
      [&](const std::string& key, DType, uint64_t) {
        const std::string raw = storage_bytes(key);
        auto s = std::make_shared<StorageImpl>(raw.size(), kCPU);
        if (!raw.empty()) std::memcpy(s->data(), raw.data(), raw.size());
        return Storage(s);
      },
      name);
}

}  // namespace tandem::io
