// Reducer: DistributedDataParallel's gradient all-reduce, overlapped with the backward pass
// (reference §4.2-4.3). Parameters are grouped into buckets of about bucket_cap_mb in reverse
// registration order (the order gradients become ready), with a small first bucket (1 MB) per
// dtype and device so communication starts early; each bucket is one flat buffer. A
// post-accumulate-grad hook on each parameter copies its gradient into the bucket; when a bucket is
// full its async all-reduce averaging over the ranks (ReduceOp::Average: ncclAvg on GPUs; over MPI
// the sum, then divided by the world size, where PyTorch scales each gradient by 1 / world before
// summing: the same bits when the world is a power of two) starts at once, buckets launching in
// order. At the end of backward (an engine callback) the reducer waits for every bucket and writes
// the averaged gradients back, or leaves .grad as a view into the bucket (gradient_as_bucket_view).
// Construction checks that every rank built the same buckets (sizes and dtypes), since an
// all-reduce of buffers that differ in size would mix unrelated memory. With
// find_unused_parameters, which parameters took part is all-reduced too (PyTorch's local_used_map):
// one used on any rank gets the average everywhere, one used on none keeps its .grad untouched.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "parallel/process_group.h"

namespace tandem::parallel {

struct ReducerOptions {
  double bucket_cap_mb = 25;
  double first_bucket_mb = 1;  // capped at bucket_cap_mb
  bool find_unused_parameters = false;
  bool gradient_as_bucket_view = false;
};

class Reducer {
 public:
  Reducer(std::vector<std::pair<std::string, Tensor>> params, std::shared_ptr<ProcessGroup> pg,
          ReducerOptions options);
  ~Reducer();

  // Called by DDP's forward when gradients of the coming backward must be synchronised.
  void prepare_for_backward();
  void set_sync(bool sync) { sync_ = sync; }
  bool sync() const { return sync_; }

  size_t num_buckets() const { return buckets_.size(); }
  std::vector<std::vector<std::string>> bucket_parameter_names() const;
  // Instrumentation for tests: how many buckets had started their all-reduce when the autograd
  // engine finished its last node (the final callback), in the most recent backward.
  int64_t buckets_launched_before_backward_end() const { return launched_before_end_; }

 private:
  struct Bucket {
    std::vector<size_t> params;  // indices into params_
    std::vector<int64_t> offsets;
    Tensor flat;
    std::vector<Tensor> views;  // per parameter, shaped like it: built once, not per step
    size_t pending = 0;
    std::shared_ptr<Work> work;
  };
  void verify_same_buckets_on_all_ranks();
  void on_grad_ready(size_t param);
  void launch_ready_buckets();
  void finalize();
  void reduce_used_flags();  // used_host_ (used here) -> used_anywhere_, after every bucket

  std::vector<std::pair<std::string, Tensor>> params_;
  std::vector<size_t> bucket_of_, slot_of_;  // param -> (bucket, position)
  std::vector<Bucket> buckets_;
  std::vector<bool> ready_;
  // find_unused_parameters: 1 per parameter used on this rank, all-reduced (max) into used on any
  // rank; on the buckets' device (NCCL reduces device memory), read through a host copy. Both
  // are made once.
  Tensor used_, used_host_;
  std::vector<bool> used_anywhere_;
  std::vector<int> hooks_;
  std::shared_ptr<ProcessGroup> pg_;
  ReducerOptions opts_;
  size_t next_bucket_ = 0;
  bool expecting_ = false;  // hooks of this backward must reduce
  bool callback_queued_ = false;
  bool sync_ = true;
  int64_t launched_before_end_ = 0;
};

}  // namespace tandem::parallel
