// ProcessGroup: the collectives data parallelism needs, each returning an async Work handle.
// Backends: ProcessGroupMPI (CPU tensors) and ProcessGroupNCCL (CUDA tensors, when built with
// CUDA). Tensors are reduced in place.
//
//   auto work = pg->allreduce(grads, ReduceOp::Sum);   // starts at once
//   ... more backward ...
//   work->wait();
#pragma once

#include <memory>
#include <vector>

#include "framework/tensor/tensor.h"

namespace tandem::parallel {

enum class ReduceOp { Sum, Average, Max };

class Work {
 public:
  virtual ~Work() = default;
  // The collective's result is ready for what this thread does next. CPU backends (MPI) block
  // until it is done and throw if it failed. Device backends (NCCL) make the current stream wait
  // for it on the device and return at once, as PyTorch's NCCL backend does: a host read (.cpu(),
  // .item()) is ordered after it; a failure ends the job from the backend's watchdog.
  virtual void wait() = 0;
  virtual bool is_completed() = 0;
};

class ProcessGroup {
 public:
  virtual ~ProcessGroup() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual std::shared_ptr<Work> allreduce(Tensor& tensor, ReduceOp op = ReduceOp::Sum) = 0;
  virtual std::shared_ptr<Work> broadcast(Tensor& tensor, int root = 0) = 0;
  // out[r] receives rank r's `in` (out must hold size() tensors shaped like in).
  virtual std::shared_ptr<Work> allgather(std::vector<Tensor>& out, const Tensor& in) = 0;
  virtual std::shared_ptr<Work> barrier() = 0;
};

}  // namespace tandem::parallel
