// state_dict key utilities: find the state_dict inside a checkpoint dict, and reconcile the
// prefixes that wrappers put in front of every key: `module.` from DistributedDataParallel and
// DataParallel, `_orig_mod.` from torch.compile (PyTorch 2.x), alone or together in either order
// and at any depth (`module.module.`), in both directions, so weights saved from a wrapped model
// load into a plain one and the reverse.
#pragma once

#include <string>
#include <vector>

#include "framework/core/ordered_dict.h"
#include "framework/core/value.h"

namespace tandem::io {

using StateDict = OrderedDict<std::string, Tensor>;

// `prefix` removed from (or added to) every key that has (lacks) it; order kept.
StateDict strip_prefix(const StateDict& sd, const std::string& prefix);
StateDict add_prefix(const StateDict& sd, const std::string& prefix);

// What reconcile_prefixes did: the wrapper prefix it removed from every key and the one it put
// in its place (either may be empty), e.g. {"_orig_mod.module.", ""}.
struct PrefixChange {
  std::string stripped;
  std::string added;
  bool empty() const { return stripped.empty() && added.empty(); }
  // One line: "stripped '_orig_mod.' (torch.compile) from every key", "added 'module.'
  // (DistributedDataParallel) to every key", "stripped 'module.', added '_orig_mod.'"; "" if
  // nothing changed.
  std::string describe() const;
};

// Removes and adds the leading wrapper segments ("module.", "_orig_mod.") so the keys line up
// with `target_keys`: the wrapper segments every key shares on each side are compared, and
// where they differ the file's are replaced by the target's. Then, if the keys still differ,
// one more leading segment that every key of one side has (a LightningModule's "model.") is
// removed or added when that makes the two sides hold exactly the same keys. Keys are left alone
// when they line up already or no such prefix difference exists; load_state_dict then reports
// them as PyTorch does. `change`, when given, receives what was done.
StateDict reconcile_prefixes(const StateDict& sd, const std::vector<std::string>& target_keys,
                             PrefixChange* change = nullptr);

// The state_dict in a loaded file: the value itself if it is a flat dict of tensors, else the
// dict under 'state_dict', 'model_state_dict' or 'model' (the conventions in the wild). Errors
// name `path` and list the top-level keys found.
StateDict find_state_dict(const Value& file_contents, const std::string& path);

}  // namespace tandem::io
