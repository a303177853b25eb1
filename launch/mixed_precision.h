// training.precision in the trainer, as a PyTorch training loop with torch.autocast and
// GradScaler:
//
//   MixedPrecision mp(cfg.training.precision, device);
//   { const auto amp = mp.region(); loss = criterion(net(x), y); }   // autocast (bf16/fp16)
//   mp.backward(loss);                   // fp16: the scaled loss's backward
//   mp.step(optimizer, pg, max_norm);    // fp16: unscale, clip (max_norm > 0), skip on inf/NaN
//                                        // (agreed by all ranks), update the scale; otherwise
//                                        // clip and optimizer.step()
//
// fp32 does nothing extra. bf16 needs no loss scaler (its exponent range is float32's), as in
// PyTorch. Parameters, gradients and optimizer state stay float32 (master weights) in every mode.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "framework/core/value.h"
#include "framework/ops/autocast.h"
#include "framework/optim/grad_scaler.h"
#include "parallel/process_group.h"

namespace tandem::launch {

class MixedPrecision {
 public:
  // precision: "fp32", "bf16" or "fp16" (config-validated). fp16 on the CPU is an error naming
  // training.precision: autocast on the CPU takes bfloat16 only, as PyTorch's.
  MixedPrecision(const std::string& precision, Device device);

  const std::string& precision() const { return precision_; }
  // The autocast region for the forward pass and the loss (a disabled one for fp32); returned
  // by value, so a training step allocates nothing for it.
  autocast::AutocastGuard region() const;
  void backward(const Tensor& loss);
  // Clips the gradients' total 2-norm to max_norm first when max_norm > 0 (fp16: after
  // unscaling them, as PyTorch's recipe). Returns whether the optimizer stepped (false: fp16
  // found inf/NaN gradients on some rank).
  bool step(optim::Optimizer& optimizer, parallel::ProcessGroup* pg, double max_norm = 0);
  // The loss scaler's state for the checkpoint (None without a scaler), and its restore; a
  // checkpoint without one (an fp32 or bf16 run's) leaves the scaler at its initial state.
  Value scaler_state() const;
  void load_scaler_state(const Value& state);
  double loss_scale() const { return scaler_ ? scaler_->get_scale() : 1.0; }

 private:
  std::string precision_;
  DeviceType device_type_;
  std::optional<DType> dtype_;                 // the autocast type; none for fp32
  std::unique_ptr<optim::GradScaler> scaler_;  // fp16 only
  std::vector<Tensor> clipped_;  // the parameters to clip, refilled each step (capacity kept)
};

}  // namespace tandem::launch
