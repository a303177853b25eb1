// A whole file mapped read-only into memory, shared by the readers whose tensors are views into
// their file (safetensors, npy). Only the file's own size is mapped, never a size read from its
// contents, so a reader validates its header against `size` before it trusts anything in it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "framework/tensor/tensor.h"

namespace tandem::io {

struct MappedFile {
  const uint8_t* data = nullptr;  // nullptr for an empty file (nothing to map)
  size_t size = 0;
  std::shared_ptr<void> owner;  // unmaps when the last reference (a tensor's storage) goes
};

// Maps `path` (a regular file) read-only. Errors name the path.
MappedFile map_file(const std::string& path);

// A contiguous tensor of `shape` and `dtype` viewing file bytes [offset, offset + nbytes), which
// the caller has checked lie inside the file. The view is read-only: the pages are mapped without
// write permission, so callers copy before modifying (load_state_dict does).
Tensor mapped_tensor(const MappedFile& file, size_t offset, DType dtype, const Shape& shape);

}  // namespace tandem::io
