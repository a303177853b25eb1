// MixedPrecision (see mixed_precision.h).
#include "launch/mixed_precision.h"

#include "framework/optim/clip_grad.h"
#include "kernels/common/error.h"
#include "parallel/rank_helpers.h"

namespace tandem::launch {

MixedPrecision::MixedPrecision(const std::string& precision, Device device)
    : precision_(precision), device_type_(device.type) {
  if (precision == "fp32") return;
  if (precision == "bf16") {
    dtype_ = DType::BFloat16;
  } else if (precision == "fp16") {
    if (device.is_cpu())
      throw Error(
          "config error: training.precision: fp16 needs a CUDA device, and this run trains on "
          "the CPU",
          "use training.precision: bf16 on the CPU (autocast on the CPU takes bfloat16 only, as "
          "PyTorch's), or training.device: cuda");
    dtype_ = DType::Float16;
    scaler_ = std::make_unique<optim::GradScaler>();
  } else {
    throw Error("config error: training.precision: expected fp32, bf16 or fp16, got '" + precision +
                "'");
  }
}

autocast::AutocastGuard MixedPrecision::region() const {
  return autocast::AutocastGuard(device_type_, dtype_.value_or(DType::BFloat16),
                                 dtype_.has_value());
}

void MixedPrecision::backward(const Tensor& loss) {
  if (scaler_)
    scaler_->scale(loss).backward();
  else
    loss.backward();
}

bool MixedPrecision::step(optim::Optimizer& optimizer, parallel::ProcessGroup* pg,
                          double max_norm) {
  if (scaler_ && max_norm > 0) scaler_->unscale_(optimizer);  // true gradients for the norm
  if (max_norm > 0) {
    // The parameters the optimizer updates (each group's, in order), in a list that keeps its
    // capacity, so clipping allocates nothing per step.
    clipped_.clear();
    for (const auto& group : optimizer.param_groups())
      clipped_.insert(clipped_.end(), group.params.begin(), group.params.end());
    optim::clip_grad_norm_(clipped_, max_norm);
  }
  if (!scaler_) {
    optimizer.step();
    return true;
  }
  // Every rank skips the same steps: the inf/NaN flag is the largest over ranks (under DDP the
  // all-reduced gradients agree anyway; this also covers ranks that would not).
  const bool stepped = scaler_->step(
      optimizer, [pg](double found) { return parallel::max_over_ranks(pg, {found})[0]; });
  scaler_->update();
  return stepped;
}

Value MixedPrecision::scaler_state() const { return scaler_ ? scaler_->state_dict() : Value(); }

void MixedPrecision::load_scaler_state(const Value& state) {
  if (scaler_ && !state.is_none()) scaler_->load_state_dict(state);
}

}  // namespace tandem::launch
