// safetensors (huggingface/safetensors): u64 little-endian header length N, N bytes of JSON
// header, then the data. The reader validates as the reference implementation does (reference
// §5.5): header size limits, UTF-8 JSON, known dtypes, offsets contiguous from 0 with no holes
// or overlaps, sizes = numel * dtype size, nothing trailing. Every failure names the file.
// Reading can memory-map the file: tensors are then views into the mapping.
#pragma once

#include <map>
#include <string>

#include "framework/core/ordered_dict.h"
#include "framework/tensor/tensor.h"

namespace tandem::io {

using TensorMap = OrderedDict<std::string, Tensor>;
using Metadata = std::map<std::string, std::string>;

// Tensors in file order (by offset). `metadata` receives __metadata__ when given.
TensorMap load_safetensors(const std::string& path, Metadata* metadata = nullptr,
                           bool mmap = false);
// Parses an in-memory file (the bytes are copied into the tensors); `name` is used in errors.
TensorMap parse_safetensors(const uint8_t* data, size_t size, const std::string& name,
                            Metadata* metadata = nullptr);
// The __metadata__ of a file, reading only its header (validated as load_safetensors does).
Metadata read_safetensors_metadata(const std::string& path);
// Writes atomically. Tensors may be any device/layout (copied to contiguous CPU); order in the
// file follows the reference writer (dtype alignment descending, then name).
void save_safetensors(const std::string& path, const TensorMap& tensors,
                      const Metadata& metadata = {});
// The whole file as bytes (for checksums and tests).
std::string serialize_safetensors(const TensorMap& tensors, const Metadata& metadata = {});

const char* safetensors_dtype(DType t);  // "F32", "BF16", ...

}  // namespace tandem::io
