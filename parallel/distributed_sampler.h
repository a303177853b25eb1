// DistributedSampler with PyTorch's exact semantics (reference §4.5): a permutation from
// randperm(seed + epoch) (or 0..n-1 without shuffle), padded by repeating its head (or cut with
// drop_last) to a multiple of the world size, then every num_replicas-th index from `rank`.
#pragma once

#include <cstdint>
#include <vector>

namespace tandem::parallel {

class DistributedSampler {
 public:
  DistributedSampler(int64_t dataset_size, int num_replicas, int rank, bool shuffle = true,
                     uint64_t seed = 0, bool drop_last = false);
  void set_epoch(int64_t epoch) { epoch_ = epoch; }
  std::vector<int64_t> indices() const;  // this rank's list for the current epoch
  int64_t num_samples() const { return num_samples_; }
  int64_t total_size() const { return total_size_; }

 private:
  int64_t size_;
  int replicas_, rank_;
  bool shuffle_;
  uint64_t seed_;
  bool drop_last_;
  int64_t epoch_ = 0, num_samples_ = 0, total_size_ = 0;
};

}  // namespace tandem::parallel
