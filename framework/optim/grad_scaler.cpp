#include "framework/optim/grad_scaler.h"

#include <cmath>
#include <string>
#include <vector>

#include "framework/autograd/grad_mode.h"
#include "framework/optim/update_batch.h"
#include "framework/tensor/factories.h"
#include "framework/tensor/kernel_args.h"

namespace tandem::optim {

// The gradients' unscale, queued into few kernel calls (update_batch.h); out of grad_scaler.h,
// so the public header needs no kernel table.
class UnscaleUpdates : public UpdateBatch<kernels::UnscaleTensor, kernels::UnscaleParams> {
 public:
  UnscaleUpdates() : UpdateBatch(kernels::unscale_and_check) {}
};

GradScaler::GradScaler(const GradScalerOptions& o)
    : enabled_(o.enabled),
      scale_(float(o.init_scale)),
      growth_factor_(o.growth_factor),
      backoff_factor_(o.backoff_factor),
      growth_interval_(o.growth_interval),
      unscale_updates_(std::make_unique<UnscaleUpdates>()) {
  if (!enabled_) return;
  TANDEM_CHECK(growth_factor_ > 1.0, "The growth factor must be > 1.0.");
  TANDEM_CHECK(backoff_factor_ < 1.0, "The backoff factor must be < 1.0.");
  TANDEM_CHECK(growth_interval_ > 0, "GradScaler: growth_interval must be positive, got ",
               growth_interval_);
}

GradScaler::~GradScaler() = default;

Tensor GradScaler::scale(const Tensor& loss) const {
  if (!enabled_) return loss;
  // A one-element float32 tensor, as torch's _scale: the product has shape (1,).
  return loss * full({1}, double(scale_), TensorOptions(DType::Float32, loss.device()));
}

void GradScaler::unscale_(Optimizer& opt) {
  if (!enabled_) return;
  OptimizerState& st = per_optimizer_[&opt];
  if (st.stage == Stage::Unscaled)
    TANDEM_FAIL("unscale_() has already been called on this optimizer since the last update().");
  if (st.stage == Stage::Stepped) TANDEM_FAIL("unscale_() is being called after step().");
  // torch: inv_scale = scale.double().reciprocal().float()
  const float inv_scale = float(1.0 / double(scale_));
  std::vector<Tensor> found_infs;  // one flag per device the gradients live on
  auto flag_for = [&](Device d) -> const Tensor& {
    for (const Tensor& f : found_infs)
      if (f.device() == d) return f;
    return found_infs.emplace_back(zeros({1}, TensorOptions(DType::Float32, d)));
  };
  // Every gradient is checked before any is unscaled: a refusal leaves them all as they were.
  for (const ParamGroup& group : opt.param_groups())
    for (const Tensor& p : group.params) {
      const Tensor& g = p.grad();
      if (!g.defined()) continue;
      if (g.dtype() == DType::Float16) TANDEM_FAIL("Attempting to unscale FP16 gradients.");
      TANDEM_CHECK(g.is_contiguous(), "GradScaler: gradients must be contiguous");
    }
  NoGradGuard no_grad;
  unscale_updates_->run([&] {
    for (ParamGroup& group : opt.param_groups())
      for (Tensor& p : group.params) {
        const Tensor& g = p.grad();
        if (!g.defined()) continue;
        const Tensor& flag = flag_for(g.device());
        unscale_updates_->add(g, {inv_scale}, {g.numel(), buffer(g), buffer(flag)}, g);
      }
  });
  st.checked = !found_infs.empty();
  st.found_inf = false;
  for (const Tensor& f : found_infs) st.found_inf = st.found_inf || f.item() != 0.0;
  st.stage = Stage::Unscaled;
}

bool GradScaler::step(Optimizer& opt, const std::function<double(double)>& agree) {
  if (!enabled_) {
    opt.step();
    return true;
  }
  if (per_optimizer_[&opt].stage == Stage::Stepped)
    TANDEM_FAIL("step() has already been called since the last update().");
  if (per_optimizer_[&opt].stage == Stage::Ready) unscale_(opt);
  OptimizerState& st = per_optimizer_[&opt];
  TANDEM_CHECK(st.checked, "No inf checks were recorded for this optimizer.");
  if (agree) st.found_inf = agree(st.found_inf ? 1.0 : 0.0) != 0.0;
  const bool stepped = !st.found_inf;
  if (stepped) opt.step();
  st.stage = Stage::Stepped;
  return stepped;
}

void GradScaler::update(double new_scale) {
  if (!enabled_) return;
  if (new_scale > 0) {
    scale_ = float(new_scale);
  } else {
    bool any_checked = false, found_inf = false;
    for (const auto& [opt, st] : per_optimizer_) {
      any_checked = any_checked || st.checked;
      found_inf = found_inf || (st.checked && st.found_inf);
    }
    TANDEM_CHECK(any_checked, "No inf checks were recorded prior to update.");
    kernels::update_scale(scale_, growth_tracker_, found_inf,
                          {growth_factor_, backoff_factor_, growth_interval_});
  }
  per_optimizer_.clear();
}

double GradScaler::get_scale() const { return enabled_ ? double(scale_) : 1.0; }

Value GradScaler::state_dict() const {
  Value sd = Value::dict();
  if (!enabled_) return sd;
  sd.set("scale", double(scale_));
  sd.set("growth_factor", growth_factor_);
  sd.set("backoff_factor", backoff_factor_);
  sd.set("growth_interval", growth_interval_);
  sd.set("_growth_tracker", growth_tracker_);
  return sd;
}

void GradScaler::load_state_dict(const Value& state) {
  if (!enabled_) return;
  TANDEM_CHECK(state.is_dict(), "scaler: expected a dict, got a ", state.kind());
  if (state.size() == 0)
    TANDEM_FAIL(
        "The source state dict is empty, possibly because it was saved from a disabled "
        "instance of GradScaler.");
  auto number = [&](const char* key, bool integer) -> const Value& {
    const Value* v = state.find(Value(key));
    TANDEM_CHECK(v != nullptr, "scaler.", key, ": missing");
    TANDEM_CHECK(integer ? v->is_int() : v->is_number(), "scaler.", key, ": expected ",
                 integer ? "an int" : "a number", ", got a ", v->kind());
    return *v;
  };
  // Everything is checked before anything changes.
  const double scale = number("scale", false).to_double();
  const double growth = number("growth_factor", false).to_double();
  const double backoff = number("backoff_factor", false).to_double();
  const int64_t interval = number("growth_interval", true).to_int();
  const int64_t tracker = number("_growth_tracker", true).to_int();
  TANDEM_CHECK(scale > 0 && float(scale) < INFINITY,
               "scaler.scale: expected a positive finite "
               "float32 value, got ",
               scale);
  TANDEM_CHECK(growth > 1.0, "scaler.growth_factor: The growth factor must be > 1.0.");
  TANDEM_CHECK(backoff < 1.0, "scaler.backoff_factor: The backoff factor must be < 1.0.");
  TANDEM_CHECK(interval > 0, "scaler.growth_interval: expected a positive int, got ", interval);
  TANDEM_CHECK(tracker >= 0 && tracker < interval, "scaler._growth_tracker: expected 0 to ",
               interval - 1, ", got ", tracker);
  scale_ = float(scale);
  growth_factor_ = growth;
  backoff_factor_ = backoff;
  growth_interval_ = interval;
  growth_tracker_ = tracker;
}

}  // namespace tandem::optim
