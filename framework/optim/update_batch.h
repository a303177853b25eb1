// UpdateBatch: an optimizer's per-parameter updates gathered into few kernel calls. The update
// families (kernels::sgd_step, adam_step, unscale_and_check) take a list of tensors; consecutive
// ones on one device, in one dtype and with equal hyper-parameters go into one call, so a GPU
// updates a model in a few launches instead of one per parameter
// (kernels/common/multi_tensor_plan.h). The lists are kept between steps: a warm step allocates
// nothing. A parameter is in a list once (Optimizer::add_param_group refuses duplicates): two
// updates of one tensor in one GPU launch would race.
//
//   UpdateBatch<kernels::SgdTensor, kernels::SgdParams> batch(kernels::sgd_step);
//   batch.run([&] {
//     for (...) batch.add(p, params, {p.numel(), buffer(p), buffer(g), buffer(buf)}, g);
//   });
#pragma once

#include <span>
#include <vector>

#include "framework/tensor/kernel_args.h"
#include "kernels/kernel_table.h"

namespace tandem::optim {

template <typename Entry, typename Params>
class UpdateBatch {
 public:
  using Family = kernels::KernelFamily<void(const kernels::KernelContext&, const Params&,
                                            std::span<const Entry>)>;
  explicit UpdateBatch(const Family& family) : family_(family) {}
  UpdateBatch(const UpdateBatch&) = delete;
  UpdateBatch& operator=(const UpdateBatch&) = delete;

  // Runs queue(), which add()s a step's updates, then the updates it queued. When queue() throws,
  // the updates queued before the throw still run, as they did one by one: the state made for
  // them (a momentum buffer, a step count) then matches their parameters.
  template <typename Queue>
  void run(Queue&& queue) {
    try {
      queue();
    } catch (...) {
      flush();
      throw;
    }
    flush();
  }

  // Queues the update of `param` (its buffers in `entry`), keeping `operand` (a contiguous
  // gradient that may be a temporary) alive until the call; first runs the queued updates when
  // this one cannot join them.
  void add(const Tensor& param, const Params& params, const Entry& entry, const Tensor& operand) {
    if (!entries_.empty() &&
        (param.device() != device_ || param.dtype() != dtype_ || !(params == params_)))
      flush();
    if (entries_.empty()) {
      device_ = param.device();
      dtype_ = param.dtype();
      params_ = params;
    }
    entries_.push_back(entry);
    operands_.push_back(operand);
  }

 private:
  // Runs the queued updates (one kernel call); they are gone afterwards, even if it throws. The
  // context is made now: it makes the batch's device current, which the ops between add() and
  // here may have changed (a GPU refuses a launch on another device's stream).
  void flush() {
    if (entries_.empty()) return;
    struct Clear {
      UpdateBatch& batch;
      ~Clear() {
        batch.entries_.clear();
        batch.operands_.clear();
      }
    } clear{*this};
    family_(kernels::context_for(device_), params_, std::span<const Entry>(entries_));
  }

  const Family& family_;
  std::vector<Entry> entries_;
  std::vector<Tensor> operands_;
  Device device_;
  DType dtype_ = DType::Float32;
  Params params_{};
};

}  // namespace tandem::optim
