// torch.save files: the zip container (zip_archive.h) around data.pkl (pickle.h) and the storage
// records it names.
#include "framework/io/torch_file.h"

#include <cstring>
#include <filesystem>
#include <fstream>

#include "framework/io/atomic_write.h"
#include "framework/io/pickle.h"
#include "framework/io/zip_archive.h"

namespace tandem::io {

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

Value load_torch(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    throw Error(path + " is a directory, not a torch.save file", "pass the file's path");
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error("cannot open " + path, "check the path");
  std::string head(32, '\0');
  f.read(head.data(), std::streamsize(head.size()));
  head.resize(size_t(f.gcount()));
  if (is_legacy_torch(head)) return load_legacy_torch(path);
  if (head.size() < 4 || std::memcmp(head.data(), "PK\x03\x04", 4) != 0)
    throw Error(path +
                    ": not supported: neither a zip-format torch file nor the legacy torch.save "
                    "stream (a tar archive of the earliest PyTorch, 0.1, or not a PyTorch file)",
                "re-save it with torch.save(torch.load(path), new_path) in PyTorch >= 1.6");
  ZipReader zip(path);
  const auto names = zip.names();
  std::string prefix;
  for (const auto& n : names)
    if (ends_with(n, "data.pkl")) prefix = n.substr(0, n.size() - 8);
  // A TorchScript archive (torch.jit.save, torch.jit.trace) has data.pkl too: its module objects
  // read as their state_dict (pickle_objects.h); its code and constants.pkl are not read.
  if (prefix.empty() && !zip.has("data.pkl"))
    throw Error(path + ": no data.pkl record: not a torch.save file");
  if (zip.has(prefix + "byteorder") && zip.read(prefix + "byteorder") != "little")
    throw Error(path + ": not supported: a big-endian torch file");
  const std::string pickle = zip.read(prefix + "data.pkl");
  size_t pos = 0;
  return unpickle_at(
      pickle, &pos,
      [&](const std::string& key, DType, uint64_t) {
        if (key.find('/') != std::string::npos || key.find("..") != std::string::npos)
          throw Error(path + ": invalid storage key '" + key + "'");
        // The record's own size: the unpickler checks it against the tensors' (and names both).
        const std::string record = prefix + "data/" + key;
        const uint64_t n = zip.size_of(record);
        auto s = std::make_shared<StorageImpl>(size_t(n), kCPU);
        zip.read_into(record, s->data(), n);
        return Storage(s);
      },
      path);
}

void save_torch(const Value& value, const std::string& path) {
  const pickle::Pickled p = pickle::dump(value);
  std::string stem = std::filesystem::path(path).stem().string();
  if (stem.empty()) stem = "archive";
  ZipWriter z;
  z.add(stem + "/data.pkl", p.bytes);
  z.add(stem + "/byteorder", "little");
  for (const auto& [key, t] : p.storages)
    z.add(stem + "/data/" + key,
          std::string(static_cast<const char*>(t.storage()->data()), t.storage()->nbytes()));
  z.add(stem + "/version", "3\n");
  atomic_write_file(path, z.finish());
}

}  // namespace tandem::io
