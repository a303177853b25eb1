// save(value, path) / load(path) for the files PyTorch users exchange, by extension:
// .safetensors (a flat dict of tensors, plus tandem checkpoints) and .pt/.pth (torch.save's zip
// format, read with a restricted unpickler: no code runs).
#pragma once

#include <string>

#include "framework/core/value.h"
#include "framework/io/state_dict_utils.h"

namespace tandem::io {

Value load(const std::string& path);
void save(const Value& value, const std::string& path);

}  // namespace tandem::io
