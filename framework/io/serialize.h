// save(value, path) / load(path) for the files PyTorch users exchange, by extension:
// .safetensors and .pt/.pth (torch.save's zip format, read with a restricted unpickler: no code
// runs). What PyTorch code does with torch.save/torch.load reads the same here:
//
//   io::save(net->state_dict(), "net.pt");          // or "net.safetensors"
//   io::save(opt.state_dict(), "opt.safetensors");  // nested values too (see below)
//   net->load_state_dict(io::load_state_dict("net.pt"));
//   Value ck = io::load("ckpt.pt");                 // torch.save({'epoch': ..., ...})
//   opt.load_state_dict(ck.at("optimizer"));
//
// A .safetensors file holds a flat dict of tensors. A value that is not one (an optimizer
// state_dict, a checkpoint dict) is stored as its tensors, named by their path
// ("state/0/momentum_buffer"), plus its other contents as JSON in the metadata entry
// "tandem.value"; load() gives the same value back.
#pragma once

#include <string>

#include "framework/core/value.h"
#include "framework/io/state_dict_utils.h"

namespace tandem::io {

// What a file holds, told by its first bytes, not its name (torch.load reads
// model_best.pth.tar or a file without extension alike): the extension picks only the format
// save() writes. Throws for a directory; Unknown for a file too short or unreadable to tell
// (callers then fall back on the extension, so the error is the reader's own).
enum class FileFormat {
  TorchZip,     // "PK\x03\x04": torch.save's zip format (PyTorch >= 1.6)
  LegacyTorch,  // a bare pickle: the legacy torch.save format, refused with a clear message
  Safetensors,  // an 8-byte header length, then the JSON header's '{'
  Unknown,
};
FileFormat detect_format(const std::string& path);

Value load(const std::string& path);
void save(const Value& value, const std::string& path);

// The state_dict in any file tandem reads: a bare state_dict (.pt, .pth, .safetensors), a
// PyTorch checkpoint dict (under 'state_dict', 'model_state_dict' or 'model'), or a tandem
// checkpoint (its model). Keys are as stored: Module::load_state_dict reconciles wrapper
// prefixes (module., _orig_mod.). Errors name `path`.
StateDict load_state_dict(const std::string& path);

}  // namespace tandem::io
