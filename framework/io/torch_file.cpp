// torch.save zip files: libzip reader, restricted unpickler, pickler and a stored-zip writer.
#include "framework/io/torch_file.h"

#include <zip.h>
#include <zlib.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <unordered_map>

#include "framework/io/atomic_write.h"
#include "framework/tensor/factories.h"

namespace tandem::io {
namespace {

// --- storage types ---------------------------------------------------------------------------

struct StorageType {
  const char* name;
  DType dtype;
};
constexpr StorageType kStorageTypes[] = {
    {"DoubleStorage", DType::Float64}, {"FloatStorage", DType::Float32},
    {"HalfStorage", DType::Float16},   {"BFloat16Storage", DType::BFloat16},
    {"LongStorage", DType::Int64},     {"IntStorage", DType::Int32},
    {"ShortStorage", DType::Int16},    {"CharStorage", DType::Int8},
    {"ByteStorage", DType::UInt8},     {"BoolStorage", DType::Bool}};

const StorageType* storage_type(const std::string& global) {
  for (const auto& t : kStorageTypes)
    if (global == std::string("torch.") + t.name) return &t;
  return nullptr;
}

const char* storage_name(DType d) {
  for (const auto& t : kStorageTypes)
    if (t.dtype == d) return t.name;
  TANDEM_FAIL("torch files: no storage type for ", dtype_name(d));
}

// --- unpickler -------------------------------------------------------------------------------

// The globals PyTorch's weights_only loader allows that a state_dict or checkpoint uses.
bool allowed_global(const std::string& g) {
  return g == "collections.OrderedDict" || g == "collections.Counter" ||
         g == "torch._utils._rebuild_tensor_v2" || g == "torch._utils._rebuild_parameter" ||
         g == "torch._utils._rebuild_parameter_with_state" || storage_type(g) != nullptr;
}

struct Item {
  enum Kind { Val, Mark, Global, StorageRef } kind = Val;
  Value value;
  std::string global;
  tandem::Storage storage;
  DType storage_dtype = DType::Float32;
};

class Unpickler {
 public:
  Unpickler(const std::string& data, std::function<std::string(const std::string&)> storage_bytes,
            std::string name)
      : d_(data), storage_bytes_(std::move(storage_bytes)), name_(std::move(name)) {}

  Value run() {
    while (true) {
      const uint8_t op = u8();
      switch (op) {
        case 0x80:
          u8();
          break;     // PROTO
        case '.': {  // STOP
          if (stack_.size() != 1 || stack_.back().kind != Item::Val)
            fail("malformed pickle at STOP");
          return stack_.back().value;
        }
        case 'c': {  // GLOBAL "module\nname\n"
          const std::string module = line(), name = line();
          const std::string g = module + "." + name;
          if (!allowed_global(g))
            fail("Unsupported global: GLOBAL " + g +
                 " was not an allowed global by default; tandem only reads "
                 "tensors, containers and numbers (nothing is executed)");
          Item it;
          it.kind = Item::Global;
          it.global = g;
          stack_.push_back(it);
          break;
        }
        case 'R':
          reduce();
          break;
        case 'b':
          build();
          break;
        case 'a': {  // APPEND
          Value v = pop_value();
          top_value("APPEND").append(v);
          break;
        }
        case 'e': {  // APPENDS
          auto items = pop_to_mark();
          Value& list = top_value("APPENDS");
          for (auto& i : items) list.append(as_value(i));
          break;
        }
        case 's': {  // SETITEM
          Value v = pop_value(), k = pop_value();
          dict_set(top_value("SETITEM"), k, v);
          break;
        }
        case 'u': {  // SETITEMS
          auto items = pop_to_mark();
          if (items.size() % 2) fail("SETITEMS with an odd number of items");
          Value& d = top_value("SETITEMS");
          for (size_t i = 0; i < items.size(); i += 2)
            dict_set(d, as_value(items[i]), as_value(items[i + 1]));
          break;
        }
        case '(': {
          Item m;
          m.kind = Item::Mark;
          stack_.push_back(m);
          break;
        }
        case 't':
          push(tuple_of(pop_to_mark()));
          break;
        case 0x85:
          push(tuple_of(pop_n(1)));
          break;
        case 0x86:
          push(tuple_of(pop_n(2)));
          break;
        case 0x87:
          push(tuple_of(pop_n(3)));
          break;
        case ')':
          push(tuple_of({}));
          break;
        case ']':
          push(Value::list());
          break;
        case '}':
          push(Value::dict());
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
          if (n > 0 && n < 8 && (v >> (8 * n - 1)) & 1)
            v |= ~uint64_t(0) << (8 * n);  // sign-extend
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
        case 'X':
          push(Value(bytes(le(4))));
          break;  // BINUNICODE
        case 'U':
          push(Value(bytes(u8())));
          break;  // SHORT_BINSTRING
        case 'Q':
          persistent_load();
          break;  // BINPERSID
        case 'q':
          memo_[le(1)] = top("BINPUT");
          break;
        case 'r':
          memo_[le(4)] = top("LONG_BINPUT");
          break;
        case 'h':
          stack_.push_back(memo_get(le(1)));
          break;
        case 'j':
          stack_.push_back(memo_get(le(4)));
          break;
        default: {
          char hex[8];
          std::snprintf(hex, sizeof hex, "0x%02x", op);
          fail(std::string("Unsupported operand ") + hex + " ('" +
               (op >= 32 && op < 127 ? std::string(1, char(op)) : "?") + "') at byte " +
               std::to_string(pos_ - 1) + ": not in the weights-only subset");
        }
      }
    }
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw Error(name_ + ": refusing to load: " + what,
                "only tensors, containers and numbers are read from .pt files");
  }
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
  std::string bytes(uint64_t n) {
    if (n > d_.size() - pos_)
      fail("string length " + std::to_string(n) + " runs past the end of the pickle");
    std::string s = d_.substr(pos_, size_t(n));
    pos_ += size_t(n);
    return s;
  }
  std::string line() {
    const size_t end = d_.find('\n', pos_);
    if (end == std::string::npos || end - pos_ > 256) fail("malformed GLOBAL");
    std::string s = d_.substr(pos_, end - pos_);
    pos_ = end + 1;
    return s;
  }
  void push(Value v) {
    Item it;
    it.value = std::move(v);
    stack_.push_back(std::move(it));
  }
  Item pop() {
    if (stack_.empty()) fail("stack underflow");
    Item it = std::move(stack_.back());
    stack_.pop_back();
    return it;
  }
  const Item& top(const char* op) {
    if (stack_.empty()) fail(std::string(op) + " on an empty stack");
    return stack_.back();
  }
  Value& top_value(const char* op) {
    if (stack_.empty() || stack_.back().kind != Item::Val)
      fail(std::string(op) + " on a non-container");
    return stack_.back().value;
  }
  Value as_value(const Item& it) {
    if (it.kind != Item::Val) fail("a global or storage used as a value");
    return it.value;
  }
  Value pop_value() { return as_value(pop()); }
  std::vector<Item> pop_to_mark() {
    std::vector<Item> items;
    while (true) {
      if (stack_.empty()) fail("MARK not found");
      Item it = pop();
      if (it.kind == Item::Mark) break;
      items.push_back(std::move(it));
    }
    std::reverse(items.begin(), items.end());
    return items;
  }
  std::vector<Item> pop_n(size_t n) {
    if (stack_.size() < n) fail("stack underflow");
    std::vector<Item> items(std::make_move_iterator(stack_.end() - ptrdiff_t(n)),
                            std::make_move_iterator(stack_.end()));
    stack_.resize(stack_.size() - n);
    return items;
  }
  // Tuples may hold storages and globals (the persistent id, _rebuild_tensor_v2's arguments).
  Item tuple_of(std::vector<Item> items) {
    Item t;
    t.value = Value::tuple({});
    t.kind = Item::Val;
    tuple_items_.push_back(std::move(items));
    t.global = "#tuple" + std::to_string(tuple_items_.size() - 1);
    std::vector<Value> vals;
    for (auto& i : tuple_items_.back()) vals.push_back(i.kind == Item::Val ? i.value : Value());
    t.value = Value::tuple(vals);
    return t;
  }
  void push(Item it) { stack_.push_back(std::move(it)); }
  const std::vector<Item>& raw_tuple(const Item& t) {
    if (t.global.rfind("#tuple", 0) != 0) fail("expected a tuple");
    return tuple_items_.at(std::stoul(t.global.substr(6)));
  }
  Item memo_get(uint64_t k) {
    auto it = memo_.find(k);
    if (it == memo_.end()) fail("memo key " + std::to_string(k) + " not found");
    return it->second;
  }
  void dict_set(Value& d, const Value& k, const Value& v) {
    if (!d.is_dict()) fail("SETITEM on a non-dict");
    if (!(k.is_string() || k.is_int())) fail(std::string("dict key of type ") + k.kind());
    d.set(k, v);
  }

  void persistent_load() {
    const Item pid = pop();
    const auto& parts = raw_tuple(pid);
    if (parts.size() < 5 || parts[0].kind != Item::Val || !parts[0].value.is_string() ||
        parts[0].value.to_string() != "storage")
      fail("persistent id is not a ('storage', ...) tuple");
    if (parts[1].kind != Item::Global || !storage_type(parts[1].global))
      fail("persistent id without a storage type");
    const DType dt = storage_type(parts[1].global)->dtype;
    const std::string key = as_value(parts[2]).to_string();
    const int64_t numel = as_value(parts[4]).to_int();
    if (numel < 0) fail("negative storage size");
    auto it = storages_.find(key);
    if (it == storages_.end()) {
      const std::string raw = storage_bytes_(key);
      if (uint64_t(raw.size()) != uint64_t(numel) * element_size(dt))
        fail("storage '" + key + "' has " + std::to_string(raw.size()) + " bytes, expected " +
             std::to_string(uint64_t(numel) * element_size(dt)));
      auto s = std::make_shared<StorageImpl>(raw.size(), kCPU);
      if (!raw.empty()) std::memcpy(s->data(), raw.data(), raw.size());
      it = storages_.emplace(key, std::make_pair(s, dt)).first;
    }
    Item st;
    st.kind = Item::StorageRef;
    st.storage = it->second.first;
    st.storage_dtype = it->second.second;
    stack_.push_back(st);
  }

  void reduce() {
    const Item args = pop();
    const Item fn = pop();
    if (fn.kind != Item::Global) fail("REDUCE of a non-global");
    const auto& a = raw_tuple(args);
    if (fn.global == "collections.OrderedDict") {
      Value d = Value::dict();
      if (!a.empty()) fail("OrderedDict with arguments");
      push(d);
    } else if (fn.global == "collections.Counter") {
      push(a.empty() ? Value::dict() : as_value(a[0]));
    } else if (fn.global == "torch._utils._rebuild_tensor_v2") {
      if (a.size() < 6 || a[0].kind != Item::StorageRef)
        fail("_rebuild_tensor_v2 with unexpected arguments");
      const int64_t offset = as_value(a[1]).to_int();
      Shape size, stride;
      for (const auto& v : as_value(a[2]).items()) size.push_back(v.to_int());
      for (const auto& v : as_value(a[3]).items()) stride.push_back(v.to_int());
      if (size.size() != stride.size()) fail("tensor size and stride differ in length");
      // Bounds: the furthest element must lie inside the storage.
      int64_t last = offset;
      for (size_t i = 0; i < size.size(); ++i) {
        if (size[i] < 0 || stride[i] < 0) fail("negative tensor size or stride");
        if (size[i] > 0) last += (size[i] - 1) * stride[i];
      }
      const int64_t capacity = int64_t(a[0].storage->nbytes() / element_size(a[0].storage_dtype));
      if (offset < 0 || (shape_numel(size) > 0 && last >= capacity))
        fail("tensor view outside its storage");
      push(Value(Tensor(
          std::make_shared<TensorImpl>(a[0].storage, size, stride, offset, a[0].storage_dtype))));
    } else if (fn.global == "torch._utils._rebuild_parameter" ||
               fn.global == "torch._utils._rebuild_parameter_with_state") {
      if (a.empty()) fail("_rebuild_parameter without arguments");
      push(as_value(a[0]));
    } else {
      fail("REDUCE of " + fn.global + " is not allowed");
    }
  }

  void build() {
    pop();  // state: OrderedDict's _metadata, nothing tandem needs
    if (stack_.empty() || stack_.back().kind != Item::Val || !stack_.back().value.is_dict())
      fail("BUILD is only allowed on an OrderedDict");
  }

  const std::string& d_;
  size_t pos_ = 0;
  std::function<std::string(const std::string&)> storage_bytes_;
  std::string name_;
  std::vector<Item> stack_;
  std::unordered_map<uint64_t, Item> memo_;
  std::vector<std::vector<Item>> tuple_items_;
  std::map<std::string, std::pair<Storage, DType>> storages_;
};

// --- zip reading -----------------------------------------------------------------------------

class ZipReader {
 public:
  explicit ZipReader(const std::string& path) : path_(path) {
    int err = 0;
    zip_ = zip_open(path.c_str(), ZIP_RDONLY | ZIP_CHECKCONS, &err);
    if (!zip_) {
      zip_error_t e;
      zip_error_init_with_code(&e, err);
      const std::string why = zip_error_strerror(&e);
      zip_error_fini(&e);
      throw Error(path + ": not a readable zip archive (" + why + ")",
                  "the file is truncated or corrupted");
    }
    file_size_ = std::filesystem::file_size(path);
  }
  ~ZipReader() {
    if (zip_) zip_discard(zip_);
  }
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    const zip_int64_t n = zip_get_num_entries(zip_, 0);
    for (zip_int64_t i = 0; i < n; ++i) out.push_back(zip_get_name(zip_, zip_uint64_t(i), 0));
    return out;
  }
  bool has(const std::string& name) const { return zip_name_locate(zip_, name.c_str(), 0) >= 0; }
  std::string read(const std::string& name) const {
    const zip_int64_t idx = zip_name_locate(zip_, name.c_str(), 0);
    if (idx < 0) throw Error(path_ + ": record '" + name + "' is missing");
    zip_stat_t st;
    if (zip_stat_index(zip_, zip_uint64_t(idx), 0, &st) != 0 || !(st.valid & ZIP_STAT_SIZE))
      throw Error(path_ + ": cannot stat record '" + name + "'");
    // A declared size larger than the file itself is a lie (torch stores records uncompressed).
    if (st.size > file_size_)
      throw Error(path_ + ": record '" + name + "' declares " + std::to_string(st.size) +
                  " bytes in a " + std::to_string(file_size_) + "-byte file");
    zip_file_t* f = zip_fopen_index(zip_, zip_uint64_t(idx), 0);
    if (!f) throw Error(path_ + ": cannot open record '" + name + "': " + zip_strerror(zip_));
    std::string out(size_t(st.size), '\0');
    const zip_int64_t got = out.empty() ? 0 : zip_fread(f, out.data(), st.size);
    zip_fclose(f);
    if (got < 0 || zip_uint64_t(got) != st.size)
      throw Error(path_ + ": record '" + name + "' is truncated or corrupted");
    return out;
  }

 private:
  std::string path_;
  zip_t* zip_ = nullptr;
  uint64_t file_size_ = 0;
};

// --- pickler ---------------------------------------------------------------------------------

class Pickler {
 public:
  std::string out;
  std::vector<std::pair<std::string, Tensor>> storages;  // key -> contiguous bytes holder

  void dump(const Value& v) {
    out += "\x80\x02";
    value(v);
    out += '.';
  }

 private:
  void u32(uint32_t v) {
    for (int i = 0; i < 4; ++i) out += char((v >> (8 * i)) & 0xff);
  }
  void text(const std::string& s) {
    out += 'X';
    u32(uint32_t(s.size()));
    out += s;
  }
  void integer(int64_t v) {
    if (v >= 0 && v < 256) {
      out += 'K';
      out += char(v);
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
      out += 'J';
      u32(uint32_t(int32_t(v)));
    } else {
      out += '\x8a';
      out += char(8);
      for (int i = 0; i < 8; ++i) out += char((uint64_t(v) >> (8 * i)) & 0xff);
    }
  }
  void global(const std::string& module, const std::string& name) {
    out += "c" + module + "\n" + name + "\n";
  }
  static bool tensor_dict(const Value& v) {
    if (!v.is_dict() || v.size() == 0) return false;
    for (const auto& [k, x] : v.dict_items())
      if (!k.is_string() || !x.is_tensor()) return false;
    return true;
  }
  void value(const Value& v) {
    if (v.is_none())
      out += 'N';
    else if (v.is_bool())
      out += v.to_bool() ? '\x88' : '\x89';
    else if (v.is_int())
      integer(v.to_int());
    else if (v.is_double()) {
      out += 'G';
      uint64_t bits;
      const double d = v.to_double();
      std::memcpy(&bits, &d, 8);
      for (int i = 7; i >= 0; --i) out += char((bits >> (8 * i)) & 0xff);
    } else if (v.is_string())
      text(v.to_string());
    else if (v.is_tensor())
      tensor(v.to_tensor());
    else if (v.is_list()) {
      out += ']';
      if (v.size() > 0) {
        out += '(';
        for (const auto& x : v.items()) value(x);
        out += 'e';
      }
    } else if (v.is_tuple()) {
      out += '(';
      for (const auto& x : v.items()) value(x);
      out += 't';
    } else {
      // A state_dict (all tensors) is an OrderedDict, as torch.save(model.state_dict()) writes.
      if (tensor_dict(v)) {
        global("collections", "OrderedDict");
        out += ")R";
      } else {
        out += '}';
      }
      if (v.size() > 0) {
        out += '(';
        for (const auto& [k, x] : v.dict_items()) {
          value(k);
          value(x);
        }
        out += 'u';
      }
    }
  }
  // A device tensor is written from a host copy of its whole storage, made once per storage, so
  // entries that share device memory (a tied weight under two keys, a view of another entry)
  // share one storage record as they do from the CPU, and the file is the CPU copy's.
  std::vector<std::pair<Tensor, Tensor>> host_copies_;  // (a device tensor, its storage on host)
  Tensor on_host(const Tensor& t) {
    if (t.is_cpu()) return t;
    const StorageImpl* key = t.storage().get();
    for (const auto& [dev, host] : host_copies_)
      if (dev.storage().get() == key)
        return make_view(host, t.sizes(), t.strides(), t.storage_offset());
    const int64_t numel = int64_t(t.storage()->nbytes() / t.element_size());
    Tensor host = make_view(t, {numel}, {1}, 0).cpu();
    host_copies_.emplace_back(t, host);
    return make_view(host, t.sizes(), t.strides(), t.storage_offset());
  }

  void tensor(const Tensor& t_in) {
    Tensor t = on_host(t_in).contiguous();
    const StorageImpl* key_ptr = t.storage().get();
    std::string key;
    for (const auto& [k, holder] : storages)
      if (holder.storage().get() == key_ptr) key = k;
    if (key.empty()) {
      key = std::to_string(storages.size());
      storages.emplace_back(key, t);
    }
    const int64_t numel = int64_t(t.storage()->nbytes() / t.element_size());
    global("torch._utils", "_rebuild_tensor_v2");
    out += '(';
    // persistent id ('storage', torch.<Type>Storage, key, 'cpu', numel)
    out += '(';
    text("storage");
    global("torch", storage_name(t.dtype()));
    text(key);
    text("cpu");
    integer(numel);
    out += "tQ";
    integer(t.storage_offset());
    out += '(';
    for (int64_t s : t.sizes()) integer(s);
    out += 't';
    out += '(';
    for (int64_t s : t.strides()) integer(s);
    out += 't';
    out += '\x89';  // requires_grad False
    global("collections", "OrderedDict");
    out += ")R";
    out += "tR";
  }
};

// --- stored-zip writer ------------------------------------------------------------------------
// torch's reader needs each record's data 64-byte aligned, which it gets from a local-header
// extra field of padding; libzip cannot place data at an alignment, so this small writer emits
// STORED entries itself (the reading side uses libzip).
class ZipWriter {
 public:
  void add(const std::string& name, const std::string& data) {
    Entry e{name,
            uint32_t(crc32(0L, reinterpret_cast<const Bytef*>(data.data()), uInt(data.size()))),
            data.size(), out.size()};
    const size_t header = 30 + name.size();
    size_t pad = (64 - (out.size() + header + 4) % 64) % 64;
    const uint16_t extra_len = uint16_t(4 + pad);
    u32(0x04034b50);
    u16(20);  // version needed
    u16(0);   // flags
    u16(0);   // STORED
    u16(0);
    u16(0);  // time, date
    u32(e.crc);
    u32(uint32_t(data.size()));
    u32(uint32_t(data.size()));
    u16(uint16_t(name.size()));
    u16(extra_len);
    out += name;
    u16(0x4246);  // 'FB' padding field, as torch writes
    u16(uint16_t(pad));
    out.append(pad, 'Z');
    out += data;
    entries_.push_back(e);
  }
  std::string finish() {
    const size_t cd_start = out.size();
    for (const auto& e : entries_) {
      u32(0x02014b50);
      u16(20);
      u16(20);
      u16(0);
      u16(0);
      u16(0);
      u16(0);
      u32(e.crc);
      u32(uint32_t(e.size));
      u32(uint32_t(e.size));
      u16(uint16_t(e.name.size()));
      u16(0);
      u16(0);
      u16(0);
      u16(0);
      u32(0);
      u32(uint32_t(e.offset));
      out += e.name;
    }
    const size_t cd_size = out.size() - cd_start;
    u32(0x06054b50);
    u16(0);
    u16(0);
    u16(uint16_t(entries_.size()));
    u16(uint16_t(entries_.size()));
    u32(uint32_t(cd_size));
    u32(uint32_t(cd_start));
    u16(0);
    return std::move(out);
  }

 private:
  struct Entry {
    std::string name;
    uint32_t crc;
    size_t size, offset;
  };
  void u16(uint16_t v) {
    out += char(v & 0xff);
    out += char(v >> 8);
  }
  void u32(uint32_t v) {
    for (int i = 0; i < 4; ++i) out += char((v >> (8 * i)) & 0xff);
  }
  std::string out;
  std::vector<Entry> entries_;
};

}  // namespace

Value unpickle(const std::string& pickle,
               const std::function<std::string(const std::string&)>& storage_bytes,
               const std::string& name) {
  return Unpickler(pickle, storage_bytes, name).run();
}

Value load_torch(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error("cannot open " + path, "check the path");
  char magic[4] = {};
  f.read(magic, 4);
  if (f.gcount() < 4 || std::memcmp(magic, "PK\x03\x04", 4) != 0)
    throw Error(path +
                    ": not supported: this is not a zip-format torch file (legacy torch.save "
                    "before 1.6, or "
                    "not a PyTorch file)",
                "re-save it with a recent PyTorch: torch.save(torch.load(path), new_path)");
  ZipReader zip(path);
  const auto names = zip.names();
  std::string prefix;
  for (const auto& n : names)
    if (n.size() >= 8 && n.compare(n.size() - 8, 8, "data.pkl") == 0)
      prefix = n.substr(0, n.size() - 8);
  for (const auto& n : names)
    if (n.size() >= 13 && n.compare(n.size() - 13, 13, "constants.pkl") == 0)
      throw Error(path + ": not supported: a TorchScript archive (torch.jit.save)",
                  "save the state_dict with torch.save");
  if (prefix.empty() && !zip.has("data.pkl"))
    throw Error(path + ": no data.pkl record: not a torch.save file");
  if (zip.has(prefix + "byteorder") && zip.read(prefix + "byteorder") != "little")
    throw Error(path + ": not supported: a big-endian torch file");
  const std::string pickle = zip.read(prefix + "data.pkl");
  return unpickle(
      pickle,
      [&](const std::string& key) {
        if (key.find('/') != std::string::npos || key.find("..") != std::string::npos)
          throw Error(path + ": invalid storage key '" + key + "'");
        return zip.read(prefix + "data/" + key);
      },
      path);
}

void save_torch(const Value& value, const std::string& path) {
  Pickler p;
  p.dump(value);
  std::string stem = std::filesystem::path(path).stem().string();
  if (stem.empty()) stem = "archive";
  ZipWriter z;
  z.add(stem + "/data.pkl", p.out);
  z.add(stem + "/byteorder", "little");
  for (const auto& [key, t] : p.storages)
    z.add(stem + "/data/" + key,
          std::string(static_cast<const char*>(t.storage()->data()), t.storage()->nbytes()));
  z.add(stem + "/version", "3\n");
  atomic_write_file(path, z.finish());
}

}  // namespace tandem::io
