// Backend selection (see process_group_auto.h).
#include "parallel/process_group_auto.h"

#include "kernels/common/error.h"
#include "kernels/device/runtime.h"
#include "parallel/process_group_nccl.h"

namespace tandem::parallel {

ProcessGroupAuto::ProcessGroupAuto(std::shared_ptr<ProcessGroup> cpu_group,
                                   GroupFactory make_cuda_group)
    : cpu_(std::move(cpu_group)), make_cuda_(std::move(make_cuda_group)) {
  TANDEM_CHECK(cpu_ != nullptr, "ProcessGroupAuto needs a CPU process group");
}

void ProcessGroupAuto::create_cuda_group() {
  if (!cuda_) cuda_ = make_cuda_();
}

ProcessGroup& ProcessGroupAuto::group_for(const Tensor& t) {
  if (!t.is_cuda()) return *cpu_;
  create_cuda_group();
  return *cuda_;
}

std::shared_ptr<Work> ProcessGroupAuto::allreduce(Tensor& tensor, ReduceOp op) {
  return group_for(tensor).allreduce(tensor, op);
}

std::shared_ptr<Work> ProcessGroupAuto::broadcast(Tensor& tensor, int root) {
  return group_for(tensor).broadcast(tensor, root);
}

std::shared_ptr<Work> ProcessGroupAuto::allgather(std::vector<Tensor>& out, const Tensor& in) {
  return group_for(in).allgather(out, in);
}

std::shared_ptr<Work> ProcessGroupAuto::barrier() { return cpu_->barrier(); }

std::shared_ptr<ProcessGroup> make_process_group(const std::string& backend, const World& world,
                                                 Device device) {
  if (!world.process_group) return nullptr;
  const std::shared_ptr<ProcessGroup>& mpi = world.process_group;
  // The emulated CUDA device has no NCCL: its tensors are all-reduced over MPI, staged through
  // host memory as the real backend's would be without NCCL.
  const bool emulated = device.is_cuda() && kernels::device::cuda_is_emulated();
  if (backend == "mpi") {
    TANDEM_CHECK(device.is_cpu() || emulated,
                 "distributed.backend: mpi reduces CPU tensors, but this run's device is ",
                 device.str(), "; use nccl or auto");
    return mpi;
  }
  auto nccl = [mpi, device] { return make_process_group_nccl(*mpi, device); };
  if (backend == "nccl") {
    TANDEM_CHECK(device.is_cuda(),
                 "distributed.backend: nccl reduces CUDA tensors, but this run's device is ",
                 device.str(), "; use mpi or auto");
    TANDEM_CHECK(!emulated,
                 "distributed.backend: nccl needs a real GPU, but cuda is the emulated device "
                 "(TANDEM_EMULATE_CUDA); use auto or mpi");
    auto group = std::make_shared<ProcessGroupAuto>(mpi, nccl);
    group->create_cuda_group();
    return group;
  }
  TANDEM_CHECK(backend == "auto", "distributed.backend: unknown backend '", backend,
               "' (expected auto, mpi or nccl)");
  if (!device.is_cuda() || emulated || !nccl_available()) return mpi;
  return std::make_shared<ProcessGroupAuto>(mpi, nccl);
}

}  // namespace tandem::parallel
