// GradScaler: dynamic loss scaling for float16 training, with torch.cuda.amp.GradScaler's
// semantics, defaults, errors and state_dict layout (PyTorch 1.13):
//
//   optim::GradScaler scaler;
//   scaler.scale(loss).backward();
//   scaler.unscale_(opt);          // optional: before clipping, the gradients are true ones
//   clip_grad_norm_(params, 1.0);
//   scaler.step(opt);              // skipped when a gradient holds inf or NaN
//   scaler.update();               // back off after such a step, grow after growth_interval
//
// The scale is a float32 kept on the host (PyTorch keeps it on the device to avoid a sync, but
// step() reads found_inf with .item() anyway); unscaling runs on the gradients' device through
// the unscale_and_check kernel family. In data-parallel training the gradients are already
// all-reduced, so every rank finds the same inf/NaN and skips the same steps; a caller that
// wants the check agreed explicitly passes a reducer to step() (e.g. an all-reduce max).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <unordered_map>

#include "framework/core/value.h"
#include "framework/optim/optimizer.h"

namespace tandem::optim {

class UnscaleUpdates;  // the gradients' queued unscale calls (grad_scaler.cpp)

struct GradScalerOptions {
  double init_scale = 65536.0;  // 2^16
  double growth_factor = 2.0;
  double backoff_factor = 0.5;
  int64_t growth_interval = 2000;
  bool enabled = true;
};

class GradScaler {
 public:
  explicit GradScaler(const GradScalerOptions& options = {});
  ~GradScaler();

  bool is_enabled() const { return enabled_; }
  // loss * scale (the scale as float32, in the loss's dtype); the loss itself when disabled.
  Tensor scale(const Tensor& loss) const;
  // Divides `opt`'s gradients by the scale in place and records whether any was inf or NaN.
  void unscale_(Optimizer& opt);
  // Unscales if unscale_ was not called, then steps `opt` unless a gradient was inf or NaN.
  // `agree` (optional) combines the found-inf flag across ranks. Returns whether it stepped.
  bool step(Optimizer& opt, const std::function<double(double)>& agree = {});
  // The next scale: backoff_factor times after a step with inf/NaN gradients, growth_factor
  // times after growth_interval steps without; new_scale > 0 sets it directly.
  void update(double new_scale = 0);

  double get_scale() const;  // 1.0 when disabled, as torch
  int64_t growth_tracker() const { return growth_tracker_; }

  // {"scale", "growth_factor", "backoff_factor", "growth_interval", "_growth_tracker"}, as
  // GradScaler.state_dict() (empty when disabled).
  Value state_dict() const;
  // Errors name the key ("scaler.scale: expected a number, got a str").
  void load_state_dict(const Value& state);

 private:
  enum class Stage { Ready, Unscaled, Stepped };
  struct OptimizerState {
    Stage stage = Stage::Ready;
    bool found_inf = false;
    bool checked = false;  // unscale_ ran and recorded found_inf
  };

  bool enabled_;
  float scale_;
  int64_t growth_tracker_ = 0;
  double growth_factor_, backoff_factor_;
  int64_t growth_interval_;
  std::unordered_map<const Optimizer*, OptimizerState> per_optimizer_;
  // The gradients' unscale, a few kernel calls per optimizer (update_batch.h).
  std::unique_ptr<UnscaleUpdates> unscale_updates_;
};

}  // namespace tandem::optim
