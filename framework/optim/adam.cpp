// Adam / AdamW (see adam.h).
#include "framework/optim/adam.h"

#include <cmath>

#include "framework/autograd/grad_mode.h"
#include "framework/optim/update_batch.h"
#include "framework/tensor/aten_cpu_path.h"
#include "framework/tensor/factories.h"
#include "framework/tensor/kernel_args.h"
#include "kernels/kernel_table.h"

namespace tandem::optim {

// The step's updates, queued into few kernel calls (update_batch.h); out of adam.h, so the public
// header needs no kernel table.
class AdamUpdates : public UpdateBatch<kernels::AdamTensor, kernels::AdamParams> {
 public:
  AdamUpdates() : UpdateBatch(kernels::adam_step) {}
};

Value Adam::defaults_of(const AdamOptions& o, bool decoupled) {
  // `not 0.0 <= x` in PyTorch: a nan is invalid too (SGD's `x < 0.0` lets it through).
  if (!(o.lr >= 0)) TANDEM_FAIL("Invalid learning rate: ", o.lr);
  if (!(o.eps >= 0)) TANDEM_FAIL("Invalid epsilon value: ", o.eps);
  if (!(o.betas.first >= 0 && o.betas.first < 1))
    TANDEM_FAIL("Invalid beta parameter at index 0: ", o.betas.first);
  if (!(o.betas.second >= 0 && o.betas.second < 1))
    TANDEM_FAIL("Invalid beta parameter at index 1: ", o.betas.second);
  if (!(o.weight_decay >= 0)) TANDEM_FAIL("Invalid weight_decay value: ", o.weight_decay);
  Value d = Value::dict();  // PyTorch 1.13's defaults order (AdamW's differs from Adam's)
  d.set("lr", o.lr);
  d.set("betas", Value::tuple({Value(o.betas.first), Value(o.betas.second)}));
  d.set("eps", o.eps);
  d.set("weight_decay", o.weight_decay);
  d.set("amsgrad", o.amsgrad);
  if (decoupled) {
    d.set("foreach", Value());
    d.set("maximize", o.maximize);
    d.set("capturable", false);
  } else {
    d.set("maximize", o.maximize);
    d.set("foreach", Value());
    d.set("capturable", false);
    d.set("differentiable", false);
    d.set("fused", false);
  }
  return d;
}

Adam::Adam(std::vector<Tensor> params, const AdamOptions& options, bool decoupled)
    : Optimizer(defaults_of(options, decoupled)),
      decoupled_(decoupled),
      updates_(std::make_unique<AdamUpdates>()) {
  add_param_group(std::move(params));
}

Adam::Adam(std::vector<std::pair<std::vector<Tensor>, Value>> groups, const AdamOptions& defaults,
           bool decoupled)
    : Optimizer(defaults_of(defaults, decoupled)),
      decoupled_(decoupled),
      updates_(std::make_unique<AdamUpdates>()) {
  for (auto& [params, options] : groups) add_param_group(std::move(params), options);
}

Adam::~Adam() = default;

void Adam::fix_loaded_state(Value& state, const ParamGroup&) {
  // Older files store 'step' as a number; PyTorch's __setstate__ turns it into a tensor.
  if (const Value* step = state.find("step"); step && step->is_number())
    state.set("step", Value(scalar_tensor(step->to_double(), TensorOptions(DType::Float32))));
}

void Adam::check_loaded_state(const Value& state, const Tensor& param, const Value& group,
                              const std::string& where) const {
  const char* hint = "the optimizer state comes from a corrupted or edited file, or another model";
  if (!state.contains("step") && !state.contains("exp_avg") && !state.contains("exp_avg_sq"))
    return;  // no state yet: step() creates it
  for (const char* key : {"step", "exp_avg", "exp_avg_sq"})
    if (!state.contains(key)) throw Error(where + "." + key + ": missing", hint);
  const Value& step = state.at("step");
  if (!step.is_number() && !(step.is_tensor() && step.to_tensor().numel() == 1 &&
                             step.to_tensor().dtype() != DType::Bool))
    throw Error(where + ".step: expected a number or a one-element tensor, got " + step.repr(100),
                hint);
  check_buffer(state, "exp_avg", param, where, false);
  check_buffer(state, "exp_avg_sq", param, where, false);
  check_buffer(state, "max_exp_avg_sq", param, where, false);
  const Value* amsgrad = group.find(Value("amsgrad"));
  if (amsgrad && amsgrad->is_bool() && amsgrad->to_bool() && !state.contains("max_exp_avg_sq"))
    throw Error(where + ".max_exp_avg_sq: missing, and the group uses amsgrad", hint);
}

void Adam::step() {
  NoGradGuard no_grad;
  updates_->run([&] {
    for (auto& group : param_groups()) {
      const auto& betas = group.options.at("betas").items();
      kernels::AdamParams a{};
      a.lr = group.get("lr");
      a.beta1 = betas.at(0).to_double();
      a.beta2 = betas.at(1).to_double();
      a.eps = group.get("eps");
      a.weight_decay = group.get("weight_decay");
      a.amsgrad = group.flag("amsgrad");
      a.maximize = group.flag("maximize");
      a.decoupled = decoupled_;
      a.fused = pytorch_cpu_path() == AtenCpuPath::Avx2;  // as SGD's
      for (auto& p : group.params) {
        const Tensor& grad = p.grad();
        if (!grad.defined()) continue;
        TANDEM_CHECK(p.is_contiguous(), name(), ": contiguous parameters only");
        Value& st = state(p);
        if (!st.contains("step")) {
          // 'step' is a CPU tensor on every device, as PyTorch's (non-capturable) Adam keeps it.
          st.set("step", Value(scalar_tensor(0.0, TensorOptions(DType::Float32))));
          st.set("exp_avg", Value(zeros_like(p)));
          st.set("exp_avg_sq", Value(zeros_like(p)));
          if (a.amsgrad) st.set("max_exp_avg_sq", Value(zeros_like(p)));
        }
        Tensor step_t = st.at("step").to_tensor();
        step_t.add_(1);  // an integer: works for float32 and older int64 steps
        const double t = step_t.item();
        a.step_size = a.lr / (1 - std::pow(a.beta1, t));
        a.bias_correction2_sqrt = std::sqrt(1 - std::pow(a.beta2, t));
        Tensor g = grad.contiguous();
        Tensor m = st.at("exp_avg").to_tensor(), v = st.at("exp_avg_sq").to_tensor();
        Tensor vmax = a.amsgrad ? st.at("max_exp_avg_sq").to_tensor() : Tensor();
        check_same_device(name().c_str(), {&p, &g, &m, &v, &vmax});
        updates_->add(p, a, {p.numel(), buffer(p), buffer(g), buffer(m), buffer(v), buffer(vmax)},
                      g);
        for (Tensor* t2 : {&p, &m, &v}) t2->bump_version();
      }
    }
  });
}

}  // namespace tandem::optim
