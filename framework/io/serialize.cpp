// Format dispatch by extension.
#include "framework/io/serialize.h"

#include <filesystem>

#include "framework/io/checkpoint.h"
#include "framework/io/safetensors.h"
#include "framework/io/torch_file.h"

namespace tandem::io {
namespace {

std::string extension(const std::string& path) {
  return std::filesystem::path(path).extension().string();
}

}  // namespace

Value load(const std::string& path) {
  if (!std::filesystem::exists(path)) throw Error("file not found: " + path);
  const std::string ext = extension(path);
  if (ext == ".safetensors") {
    Value d = Value::dict();
    for (const auto& [k, t] : load_safetensors(path))  // names are unique: no lookup needed
      d.dict_items().emplace_back(Value(k), Value(t));
    return d;
  }
  if (ext == ".pt" || ext == ".pth" || ext == ".bin" || ext == ".ckpt") return load_torch(path);
  throw Error("don't know how to read '" + path + "'",
              "tandem reads .safetensors, .pt and .pth files");
}

void save(const Value& value, const std::string& path) {
  const std::string ext = extension(path);
  if (ext == ".safetensors") {
    TensorMap tensors;
    if (value.is_tensor()) {
      tensors.insert("tensor", value.to_tensor());
    } else {
      if (!value.is_dict())
        throw Error("safetensors holds a flat dict of tensors, not a " + std::string(value.kind()),
                    "save to .pt for lists and nested dicts");
      for (const auto& [k, v] : value.dict_items()) {
        if (!k.is_string() || !v.is_tensor())
          throw Error(
              "safetensors holds a flat dict of tensors; '" + k.repr() + "' is a " + v.kind(),
              "save to .pt for nested values");
        tensors.insert(k.to_string(), v.to_tensor());
      }
    }
    save_safetensors(path, tensors);
    return;
  }
  if (ext == ".pt" || ext == ".pth") return save_torch(value, path);
  throw Error("don't know how to write '" + path + "'", "use a .safetensors, .pt or .pth path");
}

}  // namespace tandem::io
