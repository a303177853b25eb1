// DistributedSampler (see distributed_sampler.h).
#include "parallel/distributed_sampler.h"

#include "framework/tensor/factories.h"

namespace tandem::parallel {

DistributedSampler::DistributedSampler(int64_t dataset_size, int num_replicas, int rank,
                                       bool shuffle, uint64_t seed, bool drop_last)
    : size_(dataset_size),
      replicas_(num_replicas),
      rank_(rank),
      shuffle_(shuffle),
      seed_(seed),
      drop_last_(drop_last) {
  if (rank < 0 || rank >= num_replicas)
    TANDEM_FAIL("Invalid rank ", rank, ", rank should be in the interval [0, ", num_replicas - 1,
                "]");
  if (drop_last_ && size_ % replicas_ != 0)
    num_samples_ = (size_ - replicas_ + replicas_ - 1) / replicas_;  // ceil((n-R)/R)
  else
    num_samples_ = (size_ + replicas_ - 1) / replicas_;
  total_size_ = num_samples_ * replicas_;
}

std::vector<int64_t> DistributedSampler::indices() const {
  std::vector<int64_t> idx(static_cast<size_t>(size_));
  if (shuffle_) {
    Generator gen(seed_ + uint64_t(epoch_));
    const Tensor perm = randperm(size_, gen);
    const int64_t* p = perm.data_ptr<int64_t>();
    idx.assign(p, p + size_);
  } else {
    for (int64_t i = 0; i < size_; ++i) idx[size_t(i)] = i;
  }
  if (!drop_last_) {
    const int64_t pad = total_size_ - size_;
    for (int64_t i = 0; i < pad; ++i)
      idx.push_back(idx[size_t(i % size_)]);  // repeats the head (wrapping)
  } else {
    idx.resize(size_t(total_size_));
  }
  std::vector<int64_t> out;
  out.reserve(size_t(num_samples_));
  for (int64_t i = rank_; i < total_size_; i += replicas_) out.push_back(idx[size_t(i)]);
  return out;
}

}  // namespace tandem::parallel
