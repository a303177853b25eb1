// The legacy torch.save format: what PyTorch wrote after 0.1 and before 1.6, and still writes with
// _use_new_zipfile_serialization=False (torch/serialization.py, _legacy_save). One stream of
//   magic number pickle (0x1950a86a20f9469cfc6c), protocol version pickle (1001),
//   sys_info pickle ({'protocol_version', 'little_endian', 'type_sizes'}),
//   the data pickle (persistent ids ('storage', type, key, location, numel, view_metadata), and
//     for a whole module's classes ('module', class, source file, source)),
//   the sorted storage keys pickle,
//   per key: the element count (int64, the writer's byte order) and the storage's bytes.
// The data pickle names its storages before their bytes come, so the reader allocates each one
// when the pickle names it (all of them together no larger than the file) and fills it from the
// stream afterwards; every storage named must get exactly its bytes.
#include <cstring>
#include <unordered_map>

#include "framework/core/checked_math.h"
#include "framework/io/mapped_file.h"
#include "framework/io/torch_file.h"

namespace tandem::io {

namespace {

constexpr char kMagic[] = "\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19";  // 0x1950a86a20f9469cfc6c

Error legacy_error(const std::string& path, const std::string& what) {
  return Error(path + ": " + what + " (legacy torch.save format)",
               "re-save it in PyTorch with torch.save(torch.load(path), new_path)");
}

// The magic number pickle: PROTO n, a FRAME for protocols 4 and 5, LONG1 of the 10 bytes, STOP.
bool read_magic(std::string_view d, size_t* pos) {
  size_t p = 0;
  if (d.size() < 2 || uint8_t(d[0]) != 0x80 || d[1] < 2 || d[1] > 5) return false;
  p = 2;
  if (d.size() > p && uint8_t(d[p]) == 0x95) p += 9;
  if (d.size() < p + 13 || uint8_t(d[p]) != 0x8a || d[p + 1] != 10 ||
      std::memcmp(d.data() + p + 2, kMagic, 10) != 0 || d[p + 12] != '.')
    return false;
  *pos = p + 13;
  return true;
}

uint64_t read_le64(std::string_view d, size_t* pos, const std::string& path, const char* what) {
  if (d.size() - *pos < 8) throw legacy_error(path, std::string("truncated at ") + what);
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= uint64_t(uint8_t(d[*pos + size_t(i)])) << (8 * i);
  *pos += 8;
  return v;
}

}  // namespace

bool is_legacy_torch(const std::string& head) {
  size_t pos = 0;
  return read_magic(head, &pos);
}

Value load_legacy_torch(const std::string& path) {
  const MappedFile file = map_file(path);
  const std::string_view d(reinterpret_cast<const char*>(file.data), file.size);
  size_t pos = 0;
  if (!read_magic(d, &pos)) throw legacy_error(path, "no magic number");
  const StorageLoader none = [&](const std::string& key, DType, uint64_t) -> Storage {
    throw legacy_error(path, "a header pickle names storage '" + key + "'");
  };
  const Value version = unpickle_at(d, &pos, none, path);
  if (!version.is_int() || version.to_int() != 1001)
    throw legacy_error(path, "protocol version " + version.repr(40) + ", not 1001");
  const Value sys_info = unpickle_at(d, &pos, none, path);
  const Value* little = sys_info.is_dict() ? sys_info.find(Value("little_endian")) : nullptr;
  if (!little || !little->is_bool())
    throw legacy_error(path, "no sys_info with little_endian in the header");
  if (!little->to_bool()) throw legacy_error(path, "not supported: a big-endian file");

  struct Pending {
    Storage storage;
    DType dtype;
    bool filled = false;
  };
  std::unordered_map<std::string, Pending> pending;
  uint64_t declared = 0;  // bytes of every storage named so far: all of them lie in the file
  const Value result = unpickle_at(
      d, &pos,
      [&](const std::string& key, DType dtype, uint64_t nbytes) {
        declared += nbytes;
        if (nbytes > d.size() || declared > d.size())
          throw legacy_error(path, "storage '" + key + "' declares " + std::to_string(nbytes) +
                                       " bytes, more than the file holds");
        Storage s = std::make_shared<StorageImpl>(size_t(nbytes), kCPU);
        pending[key] = Pending{s, dtype};
        return s;
      },
      path);
  const Value keys = unpickle_at(d, &pos, none, path);
  if (!keys.is_list()) throw legacy_error(path, "the storage keys are not a list");
  for (const Value& k : keys.items()) {
    if (!k.is_string()) throw legacy_error(path, "a storage key that is not a string");
    auto it = pending.find(k.to_string());
    if (it == pending.end() || it->second.filled)
      throw legacy_error(path, "data for storage '" + k.to_string() +
                                   (it == pending.end() ? "' that no tensor uses" : "' twice"));
    Pending& p = it->second;
    const uint64_t numel = read_le64(d, &pos, path, "a storage's size");
    const std::optional<uint64_t> nbytes = checked_bytes(int64_t(numel), element_size(p.dtype));
    if (numel >> 62 || !nbytes || *nbytes != p.storage->nbytes())
      throw legacy_error(path, "storage '" + k.to_string() + "' holds " + std::to_string(numel) +
                                   " elements, but its tensors declared " +
                                   std::to_string(p.storage->nbytes() / element_size(p.dtype)));
    if (d.size() - pos < *nbytes)
      throw legacy_error(path, "truncated in the data of storage '" + k.to_string() + "'");
    if (*nbytes) std::memcpy(p.storage->data(), d.data() + pos, size_t(*nbytes));
    pos += size_t(*nbytes);
    p.filled = true;
  }
  for (const auto& [key, p] : pending)
    if (!p.filled) throw legacy_error(path, "no data for storage '" + key + "'");
  return result;
}

}  // namespace tandem::io
