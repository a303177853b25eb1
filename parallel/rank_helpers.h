// Rank-aware helpers for training loops: reduce a few metrics over ranks, print once.
//
//   auto [loss, count] = sum_over_ranks(pg, {loss_sum, n});   // every rank gets the totals
//   print_rank0("epoch %d: loss %.4f\n", epoch, loss / count); // printed by rank 0 only
#pragma once

#include <vector>

#include "parallel/process_group.h"

namespace tandem::parallel {

// Each value summed over ranks: one small float64 all-reduce (collective: every rank calls it).
// Without a group (pg null or one rank) the values come back unchanged.
std::vector<double> sum_over_ranks(ProcessGroup* pg, std::vector<double> values);
// Each value averaged over ranks (sum / world size).
std::vector<double> mean_over_ranks(ProcessGroup* pg, std::vector<double> values);

// printf on world rank 0 only (the world of init_distributed()), flushed at once so lines from
// a multi-rank job arrive in order. Returns what printf returned, 0 on other ranks.
int print_rank0(const char* format, ...) __attribute__((format(printf, 1, 2)));

}  // namespace tandem::parallel
