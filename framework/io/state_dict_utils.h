// state_dict key utilities: find the state_dict inside a checkpoint dict, and reconcile the
// `module.` prefixes that DistributedDataParallel and DataParallel add (at any depth, e.g.
// `module.module.`), in both directions, so multi-card weights load into a one-device model
// and the reverse.
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

// Removes or adds leading "module." segments so the keys line up with `target_keys` (decided by
// the number of leading "module." segments the two sides have). Keys are left alone when no
// consistent prefix difference exists; load_state_dict then reports them as PyTorch does.
StateDict reconcile_prefixes(const StateDict& sd, const std::vector<std::string>& target_keys);

// The state_dict in a loaded file: the value itself if it is a flat dict of tensors, else the
// dict under 'state_dict', 'model_state_dict' or 'model' (the conventions in the wild). Errors
// name `path` and list the top-level keys found.
StateDict find_state_dict(const Value& file_contents, const std::string& path);

}  // namespace tandem::io
