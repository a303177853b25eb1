// PyTorch's torch.save files (.pt/.pth): a zip archive (read with libzip) holding data.pkl, a
// protocol-2 pickle, and one record per storage. The reader runs a restricted unpickler that
// accepts only the opcodes and globals of PyTorch's weights_only loader (OrderedDict,
// _rebuild_tensor_v2, _rebuild_parameter, the typed storages, ...) and builds a Value tree in
// which tensors that shared a storage still share it. Any other global or opcode is refused
// with an error naming it: nothing in the file is ever executed. The writer produces files that
// torch.load(path, weights_only=True) reads (1.13 and 2.x).
//
// Files are untrusted: every size is checked before memory is allocated or addressed, and the
// reader's work and the Value it returns are bounded (see pickle_reader.cpp). The parts live in
// zip_reader.cpp, pickle_reader.cpp (the unpickler), pickle_writer.cpp and zip_writer.cpp.
#pragma once

#include <functional>
#include <string>

#include "framework/core/value.h"

namespace tandem::io {

Value load_torch(const std::string& path);
void save_torch(const Value& value, const std::string& path);

// The unpickler alone, for tests and fuzzing: `storages` resolves a persistent id's key to the
// storage's bytes. Throws tandem::Error on anything outside the allowed subset.
Value unpickle(const std::string& pickle,
               const std::function<std::string(const std::string& key)>& storage_bytes,
               const std::string& name);

}  // namespace tandem::io
