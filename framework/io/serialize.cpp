// Format dispatch by content (writes by extension); nested values in safetensors through
// value_json.
#include "framework/io/serialize.h"

#include <cstring>
#include <filesystem>
#include <fstream>

#include "framework/io/checkpoint.h"
#include "framework/io/safetensors.h"
#include "framework/io/torch_file.h"
#include "framework/io/value_json.h"

namespace tandem::io {
namespace {

// The metadata entry that holds a nested value's non-tensor contents (see serialize.h).
constexpr const char* kValueKey = "tandem.value";

std::string extension(const std::string& path) {
  return std::filesystem::path(path).extension().string();
}

bool is_flat_tensor_dict(const Value& v) {
  if (!v.is_dict()) return false;
  for (const auto& [k, x] : v.dict_items())
    if (!k.is_string() || !x.is_tensor()) return false;
  return true;
}

void save_value_safetensors(const Value& value, const std::string& path) {
  TensorMap tensors;
  if (value.is_tensor()) {
    tensors.insert("tensor", value.to_tensor());
    save_safetensors(path, tensors);
  } else if (is_flat_tensor_dict(value)) {
    for (const auto& [k, v] : value.dict_items()) tensors.insert(k.to_string(), v.to_tensor());
    save_safetensors(path, tensors);
  } else {
    // Tensors named by their path; a dict with str keys names them from its own keys
    // ("state/0/exp_avg"), anything else from "value".
    nlohmann::ordered_json doc;
    bool str_keys = value.is_dict();
    if (str_keys)
      for (const auto& [k, v] : value.dict_items()) str_keys = str_keys && k.is_string();
    if (str_keys) {
      doc = nlohmann::ordered_json::object();
      for (const auto& [k, v] : value.dict_items())
        append_member(doc, k.to_string(), value_to_json(v, k.to_string(), tensors));
    } else {
      doc = value_to_json(value, "value", tensors);
    }
    std::string text;
    try {
      text = doc.dump();
    } catch (const nlohmann::ordered_json::exception& e) {
      throw Error(path + ": cannot write the value's metadata: " + e.what(),
                  "strings and keys must be UTF-8 text");
    }
    save_safetensors(path, tensors, {{kValueKey, text}});
  }
}

Value load_value_safetensors(const std::string& path) {
  Metadata meta;
  TensorMap tensors = load_safetensors(path, &meta);
  if (auto it = meta.find(kValueKey); it != meta.end())
    return value_from_json(it->second, tensors, path + " (" + kValueKey + ")");
  Value d = Value::dict();
  for (const auto& [k, t] : tensors)  // names are unique: no lookup needed
    d.dict_items().emplace_back(Value(k), Value(t));
  return d;
}

}  // namespace

FileFormat detect_format(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    throw Error(path + " is a directory, not a checkpoint or weights file",
                std::string("pass a file in it, e.g. ") +=
                (std::filesystem::path(path) / "last.safetensors").string());
  std::ifstream f(path, std::ios::binary);
  unsigned char b[9] = {};
  if (!f || !f.read(reinterpret_cast<char*>(b), sizeof b)) {
    // Fewer than 9 bytes: only the 4-byte zip signature can still be told.
    if (f.gcount() >= 4 && std::memcmp(b, "PK\x03\x04", 4) == 0) return FileFormat::TorchZip;
    return FileFormat::Unknown;
  }
  if (std::memcmp(b, "PK\x03\x04", 4) == 0) return FileFormat::TorchZip;
  // PROTO 2..5: a pickle at the start of the file is the legacy format's magic number.
  if (b[0] == 0x80 && b[1] >= 2 && b[1] <= 5) return FileFormat::LegacyTorch;
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | b[i];
  if (header_len >= 2 && header_len < (uint64_t(1) << 32) && b[8] == '{')
    return FileFormat::Safetensors;
  return FileFormat::Unknown;
}

Value load(const std::string& path) {
  if (!std::filesystem::exists(path)) throw Error("file not found: " + path);
  switch (detect_format(path)) {
    case FileFormat::Safetensors:
      return load_value_safetensors(path);
    case FileFormat::TorchZip:
    case FileFormat::LegacyTorch:
      return load_torch(path);
    case FileFormat::Unknown:
      break;
  }
  // Too short or foreign to tell: the reader the name suggests says what is wrong.
  const std::string ext = extension(path);
  if (ext == ".safetensors") return load_value_safetensors(path);
  if (ext == ".pt" || ext == ".pth" || ext == ".bin" || ext == ".ckpt" || ext == ".tar")
    return load_torch(path);
  throw Error("don't know how to read '" + path +
                  "': it is neither a torch.save (zip) file nor a safetensors file",
              "tandem reads torch.save files and safetensors files, whatever their name");
}

void save(const Value& value, const std::string& path) {
  const std::string ext = extension(path);
  if (ext == ".safetensors") return save_value_safetensors(value, path);
  if (ext == ".pt" || ext == ".pth") return save_torch(value, path);
  throw Error("don't know how to write '" + path + "'", "use a .safetensors, .pt or .pth path");
}

StateDict load_state_dict(const std::string& path) {
  if (is_tandem_checkpoint(path)) return load_checkpoint(path).model;
  return find_state_dict(load(path), path);
}

}  // namespace tandem::io
