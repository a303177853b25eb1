// NumPy .npy files (numpy.lib.format, versions 1.0, 2.0 and 3.0): the magic "\x93NUMPY", a
// major and minor version byte, the header length (u16 little-endian in 1.0, u32 in 2.0 and
// 3.0), a header that is a Python dict literal
//   {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
// padded with spaces and a newline, then the array's bytes.
//
// Supported dtypes are little-endian and map onto tandem's: <f4 <f8 <f2 |u1 |i1 <i2 <i4 <i8 |b1
// (one-byte types may also be written with '<'). Big-endian data, structured dtypes and
// fortran_order arrays are refused with an error that says how to convert them.
//
// Hostile files are refused before anything is mapped by size or allocated: the header length
// must fit in the file, the shape's element and byte counts are computed without overflow, and
// the array's bytes must end exactly at the end of the file. A bool array's bytes must be 0 or
// 1. Every error names the file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include <optional>

#include "framework/tensor/tensor.h"

namespace tandem::io {

// Reads `path` memory-mapped: the tensor is a read-only view into the mapping (as
// load_safetensors(path, nullptr, /*mmap=*/true)), so the file is not read whole. Copy it
// (clone()) before writing to it.
Tensor load_npy(const std::string& path);
// Parses an in-memory .npy file; the bytes are copied into the tensor. `name` is used in errors.
Tensor parse_npy(const uint8_t* data, size_t size, const std::string& name);

// The tandem dtype of a little-endian numpy type string ("<f4", "|u1", ...), or nullopt.
std::optional<DType> npy_dtype(const std::string& descr);

// Writes `t` (any device or layout; written contiguous, C order) as numpy.save does: format 1.0
// with numpy's header text and padding, so the bytes equal numpy's. bfloat16 has no .npy dtype
// and is refused. Writes atomically.
void save_npy(const std::string& path, const Tensor& t);
// The whole file as bytes.
std::string serialize_npy(const Tensor& t);

}  // namespace tandem::io
