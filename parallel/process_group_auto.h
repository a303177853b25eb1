// Backend selection (the config's distributed.backend):
//   mpi   ProcessGroupMPI: CPU tensors.
//   nccl  CUDA tensors over NCCL, the communicator built at once (so a missing GPU or NCCL
//         failure shows at start-up); the few CPU tensors of bookkeeping (DDP's shape check,
//         metrics) still travel over MPI.
//   auto  NCCL for CUDA tensors, MPI for CPU tensors, chosen per call by the tensor's device
//         (ProcessGroupAuto), as PyTorch's default "cpu:gloo,cuda:nccl" group does; the NCCL
//         communicator is built when the first CUDA tensor arrives.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "parallel/distributed.h"

namespace tandem::parallel {

class ProcessGroupAuto : public ProcessGroup {
 public:
  using GroupFactory = std::function<std::shared_ptr<ProcessGroup>()>;
  // make_cuda_group builds the CUDA group the first time a CUDA tensor arrives. Every rank
  // issues the same collectives in the same order, so they all build it at the same call.
  ProcessGroupAuto(std::shared_ptr<ProcessGroup> cpu_group, GroupFactory make_cuda_group);
  int rank() const override { return cpu_->rank(); }
  int size() const override { return cpu_->size(); }
  std::shared_ptr<Work> allreduce(Tensor& tensor, ReduceOp op) override;
  std::shared_ptr<Work> broadcast(Tensor& tensor, int root) override;
  std::shared_ptr<Work> allgather(std::vector<Tensor>& out, const Tensor& in) override;
  std::shared_ptr<Work> barrier() override;  // over the CPU group

  bool cuda_group_created() const { return cuda_ != nullptr; }
  void create_cuda_group();  // now rather than at the first CUDA tensor (collective)

 private:
  ProcessGroup& group_for(const Tensor& t);
  std::shared_ptr<ProcessGroup> cpu_, cuda_;
  GroupFactory make_cuda_;
};

// The process group for a run on `device` with `backend` (auto | mpi | nccl); null when the
// world has no process group (a single process not started by mpirun). Errors name the
// distributed.backend key.
std::shared_ptr<ProcessGroup> make_process_group(const std::string& backend, const World& world,
                                                 Device device);

}  // namespace tandem::parallel
