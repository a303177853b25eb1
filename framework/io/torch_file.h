// PyTorch's torch.save files (.pt/.pth): a zip archive (read with libzip) holding data.pkl, a
// protocol-2 pickle, and one record per storage; or, read only, the legacy stream PyTorch wrote
// before 1.6 (torch_legacy_file.cpp). The reader runs a restricted unpickler that calls nothing
// a file names: it accepts the opcodes and globals of PyTorch's weights_only loader
// (OrderedDict, _rebuild_tensor_v2, _rebuild_parameter, the typed storages, ...), reads instances
// of classes as inert data (pickle_objects.h: a whole nn.Module as its state_dict), and builds a
// Value tree in which tensors that shared a storage still share it. A function call (REDUCE of
// anything but a known constructor) or an unknown opcode is refused with an error naming it. The
// writer produces zip files that torch.load(path, weights_only=True) reads (1.13 and 2.x).
//
// Files are untrusted: every size is checked before memory is allocated or addressed, and the
// reader's work and the Value it returns are bounded (see pickle_reader.cpp). The parts live in
// zip_reader.cpp, pickle_reader.cpp (the unpickler), pickle_objects.cpp, pickle_writer.cpp,
// zip_writer.cpp and torch_legacy_file.cpp.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "framework/core/value.h"

namespace tandem::io {

Value load_torch(const std::string& path);
void save_torch(const Value& value, const std::string& path);

// The unpickler alone, for tests and fuzzing: `storages` resolves a persistent id's key to the
// storage's bytes. Throws tandem::Error on anything outside the allowed subset.
Value unpickle(const std::string& pickle,
               const std::function<std::string(const std::string& key)>& storage_bytes,
               const std::string& name);

// --- internal to framework/io ---
// The storage a persistent id names, of `nbytes` bytes (the reader checks the size it gets).
using StorageLoader = std::function<Storage(const std::string& key, DType dtype, uint64_t nbytes)>;
// One pickle of `data`, from `*pos` to its STOP; `*pos` is left after the STOP.
Value unpickle_at(std::string_view data, size_t* pos, const StorageLoader& load_storage,
                  const std::string& name);
// The legacy (non-zip) format (torch_legacy_file.cpp): whether `head`, a file's first 24 bytes
// or more, starts with its magic number, and the file read.
bool is_legacy_torch(const std::string& head);
Value load_legacy_torch(const std::string& path);

}  // namespace tandem::io
