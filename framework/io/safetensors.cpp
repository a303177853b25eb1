// safetensors reader and writer (see safetensors.h).
#include "framework/io/safetensors.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "framework/core/checked_math.h"
#include "framework/io/atomic_write.h"
#include "framework/io/mapped_file.h"
#include "framework/io/value_json.h"

namespace tandem::io {
namespace {

// Reading uses the std::map-based json: a header of 10^5 tensors parses in O(n log n), where the
// insertion-ordered json's linear key lookups made it quadratic (file order does not matter:
// tensors are sorted by offset). Writing keeps the reference writer's order.
using json_in = nlohmann::json;
using json = nlohmann::ordered_json;
constexpr uint64_t kMaxHeader = 100'000'000;  // the reference implementation's limit
constexpr int kMaxHeaderDepth = 4;  // {name: {shape: [..]}}: anything deeper is not safetensors

[[noreturn]] void bad(const std::string& name, const std::string& what) {
  throw Error(name + ": invalid safetensors file: " + what,
              "the file is truncated, corrupted or not a safetensors file");
}

struct Entry {
  std::string name;
  DType dtype;
  Shape shape;
  uint64_t begin, end;
};

DType parse_dtype(const std::string& s, const std::string& file, const std::string& tensor) {
  static const std::pair<const char*, DType> table[] = {
      {"F64", DType::Float64},   {"F32", DType::Float32}, {"F16", DType::Float16},
      {"BF16", DType::BFloat16}, {"I64", DType::Int64},   {"I32", DType::Int32},
      {"I16", DType::Int16},     {"I8", DType::Int8},     {"U8", DType::UInt8},
      {"BOOL", DType::Bool}};
  for (const auto& [n, t] : table)
    if (s == n) return t;
  bad(file, "tensor '" + tensor + "' has unsupported dtype '" + s + "'");
}

// The header length from the first 8 bytes, checked against the limit and the file size.
uint64_t header_length(const uint8_t* first8, uint64_t file_size, const std::string& name) {
  if (file_size < 8) bad(name, "file too small for the 8-byte header length (HeaderTooSmall)");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | first8[i];
  if (n > kMaxHeader)
    bad(name, "header length " + std::to_string(n) + " exceeds 100 MB (HeaderTooLarge)");
  if (n > file_size - 8)
    bad(name, "header length " + std::to_string(n) +
                  " runs past the end of the file (InvalidHeaderLength)");
  return n;
}

// nlohmann's DOM builder with a bound on nesting, so a header of 10^6 nested arrays is refused
// while it is read. (nlohmann's callback parser, the documented way to do this, rescans a
// parent's members each time an object ends: quadratic in the number of tensors.)
class BoundedDom : public nlohmann::detail::json_sax_dom_parser<json_in> {
 public:
  BoundedDom(json_in& root, const std::string& name) : json_sax_dom_parser(root), name_(name) {}
  bool start_object(std::size_t n) { return enter() && json_sax_dom_parser::start_object(n); }
  bool start_array(std::size_t n) { return enter() && json_sax_dom_parser::start_array(n); }
  bool end_object() { return --depth_, json_sax_dom_parser::end_object(); }
  bool end_array() { return --depth_, json_sax_dom_parser::end_array(); }

 private:
  bool enter() {
    if (++depth_ > kMaxHeaderDepth)
      bad(name_, "the header nests deeper than " + std::to_string(kMaxHeaderDepth) + " levels");
    return true;
  }
  const std::string& name_;
  int depth_ = 0;
};

json_in parse_json(const uint8_t* begin, const uint8_t* end, const std::string& name) {
  json_in out;
  try {
    BoundedDom dom(out, name);
    json_in::sax_parse(begin, end, &dom);
  } catch (const json_in::exception& e) {
    bad(name, std::string("header is not valid UTF-8 JSON: ") + e.what());
  }
  return out;
}

void read_metadata(const json_in& header, const std::string& name, Metadata* metadata) {
  auto it = header.find("__metadata__");
  if (it == header.end()) return;
  if (!it->is_object()) bad(name, "__metadata__ is not an object");
  for (const auto& [mk, mv] : it->items()) {
    if (!mv.is_string()) bad(name, "__metadata__['" + mk + "'] is not a string");
    if (metadata) (*metadata)[mk] = mv.get<std::string>();
  }
}

// Parses and validates the header; returns entries sorted by offset and the data start. Every
// size is computed with checked arithmetic and every tensor must lie inside the data section.
std::vector<Entry> parse_header(const uint8_t* data, size_t size, const std::string& name,
                                Metadata* metadata, size_t& data_start) {
  const uint64_t n = header_length(data, size, name);
  const json_in header = parse_json(data + 8, data + 8 + n, name);
  if (!header.is_object()) bad(name, "header is not a JSON object");
  read_metadata(header, name, metadata);
  const uint64_t data_size = size - 8 - n;
  std::vector<Entry> entries;
  entries.reserve(header.size());
  for (const auto& item : header.items()) {
    const std::string& key = item.key();
    const json_in& v = item.value();
    if (key == "__metadata__") continue;
    auto field = [&](const char* f) -> const json_in* {
      if (!v.is_object()) return nullptr;
      auto it = v.find(f);
      return it == v.end() ? nullptr : &*it;
    };
    const json_in *dtype = field("dtype"), *shape = field("shape"),
                  *offsets = field("data_offsets");
    if (!dtype || !shape || !offsets || !dtype->is_string() || !shape->is_array() ||
        !offsets->is_array() || offsets->size() != 2)
      bad(name, "tensor '" + key + "' needs dtype, shape and data_offsets");
    Entry e{key, parse_dtype(dtype->get<std::string>(), name, key), {}, 0, 0};
    for (const auto& d : *shape) {
      if (!d.is_number_unsigned() || d.get<uint64_t>() > uint64_t(INT64_MAX))
        bad(name, "tensor '" + key + "' has a negative, non-integer or huge dimension");
      e.shape.push_back(int64_t(d.get<uint64_t>()));
    }
    for (const auto& o : *offsets)
      if (!o.is_number_unsigned()) bad(name, "tensor '" + key + "' has invalid data_offsets");
    e.begin = (*offsets)[0].get<uint64_t>();
    e.end = (*offsets)[1].get<uint64_t>();
    const std::optional<int64_t> numel = checked_numel(e.shape);
    const std::optional<uint64_t> bytes =
        numel ? checked_bytes(*numel, element_size(e.dtype)) : std::nullopt;
    if (!bytes || !strides_fit(e.shape))
      bad(name, "tensor '" + key + "' is too large (ValidationOverflow)");
    if (e.end < e.begin || e.end - e.begin != *bytes)
      bad(name, "tensor '" + key + "' spans " +
                    (e.end < e.begin ? std::string("a negative range")
                                     : std::to_string(e.end - e.begin) + " bytes") +
                    " but its shape and dtype need " + std::to_string(*bytes) +
                    " (TensorInvalidInfo)");
    if (e.end > data_size)
      bad(name, "tensor '" + key + "' ends at byte " + std::to_string(e.end) +
                    " of a data section of " + std::to_string(data_size) +
                    " bytes (MetadataIncompleteBuffer)");
    entries.push_back(std::move(e));
  }
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t expected = 0;
  for (const auto& e : entries) {
    if (e.begin != expected)
      bad(name,
          "tensor '" + e.name + "' does not start where the previous one ends (InvalidOffset)");
    expected = e.end;
  }
  data_start = size_t(8 + n);
  if (expected != data_size)
    bad(name, "the data section holds " + std::to_string(data_size) +
                  " bytes but the tensors cover " + std::to_string(expected) +
                  " (MetadataIncompleteBuffer)");
  return entries;
}

Shape strides_of(const Shape& shape) { return contiguous_strides(shape); }

}  // namespace

const char* safetensors_dtype(DType t) {
  switch (t) {
    case DType::Float64:
      return "F64";
    case DType::Float32:
      return "F32";
    case DType::Float16:
      return "F16";
    case DType::BFloat16:
      return "BF16";
    case DType::Int64:
      return "I64";
    case DType::Int32:
      return "I32";
    case DType::Int16:
      return "I16";
    case DType::Int8:
      return "I8";
    case DType::UInt8:
      return "U8";
    case DType::Bool:
      return "BOOL";
  }
  return "?";
}

TensorMap parse_safetensors(const uint8_t* data, size_t size, const std::string& name,
                            Metadata* metadata) {
  size_t start = 0;
  auto entries = parse_header(data, size, name, metadata, start);
  TensorMap out;
  for (const auto& e : entries) {
    auto storage = std::make_shared<StorageImpl>(size_t(e.end - e.begin), kCPU);
    if (e.end > e.begin)
      std::memcpy(storage->data(), data + start + e.begin, size_t(e.end - e.begin));
    out.insert(e.name, Tensor(std::make_shared<TensorImpl>(storage, e.shape, strides_of(e.shape), 0,
                                                           e.dtype)));
  }
  return out;
}

TensorMap load_safetensors(const std::string& path, Metadata* metadata, bool mmap) {
  const MappedFile file = map_file(path);
  if (file.size == 0) bad(path, "empty file (HeaderTooSmall)");
  if (!mmap) return parse_safetensors(file.data, file.size, path, metadata);
  size_t start = 0;
  auto entries = parse_header(file.data, file.size, path, metadata, start);
  TensorMap out;
  for (const auto& e : entries)
    out.insert(e.name, mapped_tensor(file, start + size_t(e.begin), e.dtype, e.shape));
  return out;
}

Metadata read_safetensors_metadata(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error("cannot open " + path, "check the path");
  f.seekg(0, std::ios::end);
  const uint64_t size = uint64_t(f.tellg());
  f.seekg(0);
  uint8_t first8[8] = {};
  f.read(reinterpret_cast<char*>(first8), 8);
  const uint64_t n = header_length(first8, f ? size : 0, path);
  std::string header(size_t(n), '\0');
  if (!f.read(header.data(), std::streamsize(n))) bad(path, "truncated header");
  const auto* p = reinterpret_cast<const uint8_t*>(header.data());
  const json_in j = parse_json(p, p + n, path);
  if (!j.is_object()) bad(path, "header is not a JSON object");
  Metadata m;
  read_metadata(j, path, &m);
  return m;
}

std::string serialize_safetensors(const TensorMap& tensors, const Metadata& metadata) {
  std::vector<std::pair<std::string, Tensor>> order;
  for (const auto& [k, t] : tensors) order.emplace_back(k, t.cpu().contiguous());
  std::stable_sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
    const size_t ea = element_size(a.second.dtype()), eb = element_size(b.second.dtype());
    return ea != eb ? ea > eb : a.first < b.first;
  });
  // Keys are unique (a map's, then the tensor names), so members are appended without the
  // ordered json's linear duplicate search.
  json header = json::object();
  if (!metadata.empty()) {
    json m = json::object();
    for (const auto& [k, v] : metadata) append_member(m, k, v);
    append_member(header, "__metadata__", std::move(m));
  }
  uint64_t offset = 0;
  for (const auto& [k, t] : order) {
    TANDEM_CHECK(k != "__metadata__", "safetensors: a tensor cannot be named __metadata__");
    const uint64_t n = t.nbytes();
    append_member(header, k,
                  {{"dtype", safetensors_dtype(t.dtype())},
                   {"shape", t.sizes()},
                   {"data_offsets", {offset, offset + n}}});
    offset += n;
  }
  std::string h;
  try {
    h = header.dump();
  } catch (const json::exception& e) {  // a name or metadata value that is not UTF-8
    throw Error(std::string("safetensors: cannot write the header: ") + e.what(),
                "tensor names and metadata must be UTF-8 text");
  }
  h.append((8 - h.size() % 8) % 8, ' ');
  std::string out(8, '\0');
  uint64_t len = h.size();
  for (int i = 0; i < 8; ++i) out[size_t(i)] = char((len >> (8 * i)) & 0xff);
  out += h;
  out.reserve(out.size() + offset);
  for (const auto& [k, t] : order) out.append(static_cast<const char*>(t.raw_data()), t.nbytes());
  return out;
}

void save_safetensors(const std::string& path, const TensorMap& tensors, const Metadata& metadata) {
  atomic_write_file(path, serialize_safetensors(tensors, metadata));
}

}  // namespace tandem::io
