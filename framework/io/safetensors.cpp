// safetensors reader and writer (see safetensors.h).
#include "framework/io/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>

#include "framework/io/atomic_write.h"

namespace tandem::io {
namespace {

using json = nlohmann::ordered_json;
constexpr uint64_t kMaxHeader = 100'000'000;  // the reference implementation's limit

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

// Parses and validates the header; returns entries sorted by offset and the data start.
std::vector<Entry> parse_header(const uint8_t* data, size_t size, const std::string& name,
                                Metadata* metadata, size_t& data_start) {
  if (size < 8) bad(name, "file too small for the 8-byte header length (HeaderTooSmall)");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | data[i];
  if (n > kMaxHeader)
    bad(name, "header length " + std::to_string(n) + " exceeds 100 MB (HeaderTooLarge)");
  if (8 + n > size)
    bad(name, "header length " + std::to_string(n) +
                  " runs past the end of the file (InvalidHeaderLength)");
  json header;
  try {
    header = json::parse(data + 8, data + 8 + n);
  } catch (const json::exception& e) {
    bad(name, std::string("header is not valid UTF-8 JSON: ") + e.what());
  }
  if (!header.is_object()) bad(name, "header is not a JSON object");
  std::vector<Entry> entries;
  for (const auto& [key, v] : header.items()) {
    if (key == "__metadata__") {
      if (!v.is_object()) bad(name, "__metadata__ is not an object");
      for (const auto& [mk, mv] : v.items()) {
        if (!mv.is_string()) bad(name, "__metadata__['" + mk + "'] is not a string");
        if (metadata) (*metadata)[mk] = mv.get<std::string>();
      }
      continue;
    }
    if (!v.is_object() || !v.contains("dtype") || !v.contains("shape") ||
        !v.contains("data_offsets") || !v["dtype"].is_string() || !v["shape"].is_array() ||
        !v["data_offsets"].is_array() || v["data_offsets"].size() != 2)
      bad(name, "tensor '" + key + "' needs dtype, shape and data_offsets");
    Entry e{key, parse_dtype(v["dtype"].get<std::string>(), name, key), {}, 0, 0};
    uint64_t numel = 1;
    for (const auto& d : v["shape"]) {
      if (!d.is_number_unsigned())
        bad(name, "tensor '" + key + "' has a negative or non-integer dimension");
      const uint64_t s = d.get<uint64_t>();
      if (s != 0 && numel > UINT64_MAX / s)
        bad(name, "tensor '" + key + "' is too large (ValidationOverflow)");
      numel *= s;
      e.shape.push_back(int64_t(s));
    }
    for (const auto& o : v["data_offsets"])
      if (!o.is_number_unsigned()) bad(name, "tensor '" + key + "' has invalid data_offsets");
    e.begin = v["data_offsets"][0].get<uint64_t>();
    e.end = v["data_offsets"][1].get<uint64_t>();
    const uint64_t esize = element_size(e.dtype);
    if (numel > UINT64_MAX / esize)
      bad(name, "tensor '" + key + "' is too large (ValidationOverflow)");
    if (e.end < e.begin || e.end - e.begin != numel * esize)
      bad(name, "tensor '" + key + "' spans " + std::to_string(e.end - e.begin) +
                    " bytes but its shape and dtype need " + std::to_string(numel * esize) +
                    " (TensorInvalidInfo)");
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
  if (expected + 8 + n != size)
    bad(name, "the data section holds " + std::to_string(size - 8 - n) +
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
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) throw Error("cannot open " + path + ": " + std::strerror(errno), "check the path");
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error(path + " is not a regular file");
  }
  const size_t size = size_t(st.st_size);
  if (size == 0) {
    ::close(fd);
    bad(path, "empty file (HeaderTooSmall)");
  }
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (map == MAP_FAILED) throw Error("cannot map " + path + ": " + std::strerror(errno));
  std::shared_ptr<void> mapping(map, [size](void* p) { ::munmap(p, size); });
  const auto* bytes = static_cast<const uint8_t*>(map);
  if (!mmap) return parse_safetensors(bytes, size, path, metadata);
  size_t start = 0;
  auto entries = parse_header(bytes, size, path, metadata, start);
  TensorMap out;
  for (const auto& e : entries) {
    // A read-only view into the mapping; writing to it is refused by the page protection, so
    // callers copy (load_state_dict does) before modifying.
    auto storage = std::make_shared<StorageImpl>(const_cast<uint8_t*>(bytes + start + e.begin),
                                                 size_t(e.end - e.begin), kCPU, mapping);
    out.insert(e.name, Tensor(std::make_shared<TensorImpl>(storage, e.shape, strides_of(e.shape), 0,
                                                           e.dtype)));
  }
  return out;
}

std::string serialize_safetensors(const TensorMap& tensors, const Metadata& metadata) {
  std::vector<std::pair<std::string, Tensor>> order;
  for (const auto& [k, t] : tensors) order.emplace_back(k, t.cpu().contiguous());
  std::stable_sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
    const size_t ea = element_size(a.second.dtype()), eb = element_size(b.second.dtype());
    return ea != eb ? ea > eb : a.first < b.first;
  });
  json header = json::object();
  if (!metadata.empty()) {
    json m = json::object();
    for (const auto& [k, v] : metadata) m[k] = v;
    header["__metadata__"] = m;
  }
  uint64_t offset = 0;
  for (const auto& [k, t] : order) {
    TANDEM_CHECK(k != "__metadata__", "safetensors: a tensor cannot be named __metadata__");
    const uint64_t n = t.nbytes();
    header[k] = {{"dtype", safetensors_dtype(t.dtype())},
                 {"shape", t.sizes()},
                 {"data_offsets", {offset, offset + n}}};
    offset += n;
  }
  std::string h = header.dump();
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
