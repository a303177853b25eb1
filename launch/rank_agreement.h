// Start-up checks that the ranks of one job are about to run the same training. Under mpirun
// every rank reads its own config and data and resumes on its own; ranks that differ would
// all-reduce buffers of different sizes (memory corruption), wait for each other until the
// collective timeout, or train silently on different settings. Instead they compare what they
// have before training and stop with one error, printed once, naming each differing key and which
// ranks have which value (parallel::AllRanksError: every rank exits with code 2).
//
//   require_same_on_all_ranks(pg, "run config", config_entries(cfg, false), "start every ...");
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "framework/core/ordered_dict.h"
#include "framework/tensor/tensor.h"
#include "parallel/process_group.h"

namespace tandem::launch {

// Collective: compares every rank's (key, value) pairs; a key missing on a rank counts as
// "<not set>" there. A no-op without a process group or with one rank.
void require_same_on_all_ranks(parallel::ProcessGroup* pg, const std::string& what,
                               const std::vector<std::pair<std::string, std::string>>& entries,
                               const std::string& hint);

// A 64-bit digest of a state_dict's names, shapes, dtypes and bytes, in hex: ranks that resume
// compare it to know they loaded the same weights.
std::string state_digest(const OrderedDict<std::string, Tensor>& state);

}  // namespace tandem::launch
