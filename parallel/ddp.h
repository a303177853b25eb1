// DistributedDataParallel: wraps a module as its child "module" (so state_dict keys are
// "module.<key>", as in PyTorch), checks that every rank has the same parameter shapes, copies
// rank 0's parameters and buffers to every rank, broadcasts buffers (BatchNorm statistics) from
// rank 0 before each forward, and all-reduces gradients during backward through the Reducer.
//
//   auto ddp = std::make_shared<parallel::DistributedDataParallel>(model, world.process_group);
//   loss = criterion(ddp->forward(x), y); loss.backward();   // grads are averaged over ranks
//   { auto guard = ddp->no_sync(); ... }                     // accumulate locally
#pragma once

#include <memory>

#include "framework/nn/module.h"
#include "parallel/reducer.h"

namespace tandem::parallel {

struct DdpOptions {
  double bucket_cap_mb = 25;
  bool find_unused_parameters = false;
  bool gradient_as_bucket_view = false;
  bool broadcast_buffers = true;
};

class DistributedDataParallel : public nn::Module {
 public:
  DistributedDataParallel(nn::ModulePtr module, std::shared_ptr<ProcessGroup> pg,
                          DdpOptions options = {});
  Tensor forward(const Tensor& x) override;
  std::vector<Tensor> forward_many(const std::vector<Tensor>& xs) override;

  // RAII: gradients of backward passes inside the guard's lifetime are not synchronised.
  class NoSyncGuard {
   public:
    explicit NoSyncGuard(Reducer& r) : r_(r), prev_(r.sync()) { r_.set_sync(false); }
    ~NoSyncGuard() { r_.set_sync(prev_); }
    NoSyncGuard(const NoSyncGuard&) = delete;
    NoSyncGuard& operator=(const NoSyncGuard&) = delete;

   private:
    Reducer& r_;
    bool prev_;
  };
  std::unique_ptr<NoSyncGuard> no_sync() { return std::make_unique<NoSyncGuard>(*reducer_); }

  // Copies rank 0's buffers (BatchNorm running statistics) to every rank. Forward does this
  // itself (broadcast_buffers); call it before evaluating, so every rank evaluates the model
  // that rank 0 saves: after the last training step each rank's statistics include its own batch.
  void sync_buffers();

  nn::ModulePtr module() const { return module_; }
  Reducer& reducer() { return *reducer_; }

 private:
  void before_forward();
  nn::ModulePtr module_;
  std::shared_ptr<ProcessGroup> pg_;
  DdpOptions opts_;
  std::unique_ptr<Reducer> reducer_;
  bool buffers_need_sync_ = true;
};

}  // namespace tandem::parallel
