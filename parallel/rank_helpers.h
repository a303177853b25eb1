// Rank-aware helpers for training loops: reduce a few metrics over ranks, print once, gather
// what each rank has when ranks must agree.
//
//   auto [loss, count] = sum_over_ranks(pg, {loss_sum, n});   // every rank gets the totals
//   print_rank0("epoch %d: loss %.4f\n", epoch, loss / count); // printed by rank 0 only
//   std::vector<std::string> all = allgather_strings(*pg, my_config_text);  // all[r]: rank r's
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "kernels/common/error.h"
#include "parallel/process_group.h"

namespace tandem::parallel {

// An error every rank raises together, with the same message, after a collective check (ranks
// that disagree, a non-finite loss): the executable prints it once (rank 0) and every rank exits
// with code 2 normally, instead of each rank printing and aborting the job.
class AllRanksError : public Error {
 public:
  using Error::Error;
};

// Each value summed over ranks: one small float64 all-reduce (collective: every rank calls it).
// Without a group (pg null or one rank) the values come back unchanged.
std::vector<double> sum_over_ranks(ProcessGroup* pg, std::vector<double> values);
// Each value's largest over ranks.
std::vector<double> max_over_ranks(ProcessGroup* pg, std::vector<double> values);
// Each value averaged over ranks (sum / world size).
std::vector<double> mean_over_ranks(ProcessGroup* pg, std::vector<double> values);

// Every rank's vector (lengths may differ between ranks), on every rank: out[r] is rank r's.
// Two all-gathers (the lengths, then the values padded to the longest). Collective.
std::vector<std::vector<int64_t>> allgather_vectors(ProcessGroup& pg,
                                                    const std::vector<int64_t>& mine);
// The same for strings (any bytes).
std::vector<std::string> allgather_strings(ProcessGroup& pg, const std::string& mine);

// "rank 3" or "ranks 0, 2, 5", for messages naming the ranks that have something.
std::string rank_names(const std::vector<int>& ranks);

// per_rank[r] is rank r's value: the distinct values in order of first appearance, each with the
// ranks that hold it, for messages like "16 (ranks 0, 2), 32 (rank 1)".
template <typename T>
std::vector<std::pair<T, std::vector<int>>> group_ranks_by_value(const std::vector<T>& per_rank) {
  std::vector<std::pair<T, std::vector<int>>> groups;
  for (int r = 0; r < int(per_rank.size()); ++r) {
    auto it = groups.begin();
    while (it != groups.end() && !(it->first == per_rank[size_t(r)])) ++it;
    if (it == groups.end())
      groups.push_back({per_rank[size_t(r)], {r}});
    else
      it->second.push_back(r);
  }
  return groups;
}

// printf on world rank 0 only (the world of init_distributed()), flushed at once so lines from
// a multi-rank job arrive in order. Returns what printf returned, 0 on other ranks.
int print_rank0(const char* format, ...) __attribute__((format(printf, 1, 2)));

}  // namespace tandem::parallel
