// The pickle side of torch.save files, shared by the reader (pickle_reader.cpp, the restricted
// unpickler) and the writer (pickle_writer.cpp). Internal to framework/io: the public API is
// torch_file.h.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "framework/core/value.h"

namespace tandem::io::pickle {

// PyTorch's legacy typed storages (torch/storage.py _dtype_to_storage_type_map), which name the
// dtype of a storage in a persistent id.
struct StorageType {
  const char* name;
  DType dtype;
};
inline constexpr StorageType kStorageTypes[] = {
    {"DoubleStorage", DType::Float64}, {"FloatStorage", DType::Float32},
    {"HalfStorage", DType::Float16},   {"BFloat16Storage", DType::BFloat16},
    {"LongStorage", DType::Int64},     {"IntStorage", DType::Int32},
    {"ShortStorage", DType::Int16},    {"CharStorage", DType::Int8},
    {"ByteStorage", DType::UInt8},     {"BoolStorage", DType::Bool}};

// "torch.FloatStorage" -> its entry, or nullptr.
inline const StorageType* storage_type(const std::string& global) {
  if (global.rfind("torch.", 0) != 0) return nullptr;
  for (const auto& t : kStorageTypes)
    if (global.compare(6, std::string::npos, t.name) == 0) return &t;
  return nullptr;
}
// The storage class name of a dtype; throws for a dtype without one.
inline const char* storage_name(DType dtype) {
  for (const auto& t : kStorageTypes)
    if (t.dtype == dtype) return t.name;
  TANDEM_FAIL("torch files: no storage type for ", dtype_name(dtype));
}

// A pickled Value: the protocol-2 bytes of data.pkl and the storages its persistent ids name,
// key -> a contiguous CPU tensor holding the bytes.
struct Pickled {
  std::string bytes;
  std::vector<std::pair<std::string, Tensor>> storages;
};
Pickled dump(const Value& value);

}  // namespace tandem::io::pickle
