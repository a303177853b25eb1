// The pickler: a Value as protocol-2 pickle in the layout torch.save writes (reference §5.2):
// tensors as _rebuild_tensor_v2 over persistent storage ids, state_dicts as OrderedDicts, so
// torch.load(path, weights_only=True) reads the result.
#include <cstring>
#include <unordered_map>

#include "framework/io/pickle.h"

namespace tandem::io::pickle {

namespace {

class Pickler {
 public:
  Pickled result;

  void dump(const Value& v) {
    out() += "\x80\x02";
    value(v, 0);
    out() += '.';
  }

 private:
  std::string& out() { return result.bytes; }
  void u32(uint32_t v) {
    for (int i = 0; i < 4; ++i) out() += char((v >> (8 * i)) & 0xff);
  }
  void text(const std::string& s) {
    TANDEM_CHECK(s.size() < 0xffffffffu, "pickle: a string of ", s.size(), " bytes");
    out() += 'X';
    u32(uint32_t(s.size()));
    out() += s;
  }
  void integer(int64_t v) {
    if (v >= 0 && v < 256) {
      out() += 'K';
      out() += char(v);
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
      out() += 'J';
      u32(uint32_t(int32_t(v)));
    } else {
      out() += '\x8a';
      out() += char(8);
      for (int i = 0; i < 8; ++i) out() += char((uint64_t(v) >> (8 * i)) & 0xff);
    }
  }
  void global(const std::string& module, const std::string& name) {
    out() += "c" + module + "\n" + name + "\n";
  }
  // A MultiStepLR state's milestones: PyTorch keeps them in a collections.Counter (milestone ->
  // count) and calls its elements() (step(epoch)), so they are written as one, not as a dict.
  static bool milestone_counter(const Value& key, const Value& v) {
    if (!key.is_string() || key.to_string() != "milestones" || !v.is_dict()) return false;
    for (const auto& [k, x] : v.dict_items())
      if (!k.is_int() || !x.is_int()) return false;
    return true;
  }
  static bool tensor_dict(const Value& v) {
    if (!v.is_dict() || v.size() == 0) return false;
    for (const auto& [k, x] : v.dict_items())
      if (!k.is_string() || !x.is_tensor()) return false;
    return true;
  }
  void value(const Value& v, size_t depth) {
    if (v.is_container() && depth >= kMaxValueDepth)
      TANDEM_FAIL("pickle: the value nests more than ", kMaxValueDepth, " levels deep");
    if (v.is_none()) {
      out() += 'N';
    } else if (v.is_bool()) {
      out() += v.to_bool() ? '\x88' : '\x89';
    } else if (v.is_int()) {
      integer(v.to_int());
    } else if (v.is_double()) {
      out() += 'G';
      uint64_t bits;
      const double d = v.to_double();
      std::memcpy(&bits, &d, 8);
      for (int i = 7; i >= 0; --i) out() += char((bits >> (8 * i)) & 0xff);
    } else if (v.is_string()) {
      text(v.to_string());
    } else if (v.is_tensor()) {
      tensor(v.to_tensor());
    } else if (v.is_list()) {
      out() += ']';
      if (v.size() > 0) {
        out() += '(';
        for (const auto& x : v.items()) value(x, depth + 1);
        out() += 'e';
      }
    } else if (v.is_tuple()) {
      out() += '(';
      for (const auto& x : v.items()) value(x, depth + 1);
      out() += 't';
    } else {
      // A state_dict (all tensors) is an OrderedDict, as torch.save(model.state_dict()) writes.
      if (tensor_dict(v)) {
        global("collections", "OrderedDict");
        out() += ")R";
      } else {
        out() += '}';
      }
      if (v.size() > 0) {
        out() += '(';
        for (const auto& [k, x] : v.dict_items()) {
          value(k, depth + 1);
          if (milestone_counter(k, x))
            counter(x, depth + 1);
          else
            value(x, depth + 1);
        }
        out() += 'u';
      }
    }
  }
  // Counter(d) as Python pickles it: the class, then the plain dict as REDUCE's one argument.
  void counter(const Value& d, size_t depth) {
    global("collections", "Counter");
    value(d, depth);
    out() += "\x85R";  // TUPLE1 REDUCE
  }
  // A device tensor is written from a host copy of its whole storage, made once per storage, so
  // entries that share device memory (a tied weight under two keys, a view of another entry)
  // share one storage record as they do from the CPU, and the file is the CPU copy's.
  std::unordered_map<const StorageImpl*, Tensor> host_storages_;
  Tensor on_host(const Tensor& t) {
    if (t.is_cpu()) return t;
    auto [it, inserted] = host_storages_.try_emplace(t.storage().get());
    if (inserted) {
      const int64_t numel = int64_t(t.storage()->nbytes() / t.element_size());
      it->second = make_view(t, {numel}, {1}, 0).cpu();
    }
    return make_view(it->second, t.sizes(), t.strides(), t.storage_offset());
  }

  void tensor(const Tensor& t_in) {
    Tensor t = on_host(t_in).contiguous();
    // Tensors sharing a storage share its key (a hash lookup: a state_dict may hold 10^5).
    auto [it, inserted] =
        keys_.try_emplace(t.storage().get(), std::to_string(result.storages.size()));
    if (inserted) result.storages.emplace_back(it->second, t);
    const std::string& key = it->second;
    const int64_t numel = int64_t(t.storage()->nbytes() / t.element_size());
    global("torch._utils", "_rebuild_tensor_v2");
    out() += '(';
    // persistent id ('storage', torch.<Type>Storage, key, 'cpu', numel)
    out() += '(';
    text("storage");
    global("torch", storage_name(t.dtype()));
    text(key);
    text("cpu");
    integer(numel);
    out() += "tQ";
    integer(t.storage_offset());
    out() += '(';
    for (int64_t s : t.sizes()) integer(s);
    out() += 't';
    out() += '(';
    for (int64_t s : t.strides()) integer(s);
    out() += 't';
    out() += '\x89';  // requires_grad False
    global("collections", "OrderedDict");
    out() += ")R";
    out() += "tR";
  }

  std::unordered_map<const StorageImpl*, std::string> keys_;
};

}  // namespace

Pickled dump(const Value& value) {
  Pickler p;
  p.dump(value);
  return std::move(p.result);
}

}  // namespace tandem::io::pickle
