// SGD (see sgd.h).
#include "framework/optim/sgd.h"

#include "framework/autograd/grad_mode.h"
#include "framework/optim/update_batch.h"
#include "framework/tensor/aten_cpu_path.h"
#include "framework/tensor/factories.h"
#include "framework/tensor/kernel_args.h"
#include "kernels/kernel_table.h"

namespace tandem::optim {

// The step's updates, queued into few kernel calls (update_batch.h); out of sgd.h, so the public
// header needs no kernel table.
class SgdUpdates : public UpdateBatch<kernels::SgdTensor, kernels::SgdParams> {
 public:
  SgdUpdates() : UpdateBatch(kernels::sgd_step) {}
};

Value SGD::defaults_of(const SgdOptions& o) {
  if (o.lr < 0) TANDEM_FAIL("Invalid learning rate: ", o.lr);
  if (o.momentum < 0) TANDEM_FAIL("Invalid momentum value: ", o.momentum);
  if (o.weight_decay < 0) TANDEM_FAIL("Invalid weight_decay value: ", o.weight_decay);
  if (o.nesterov && (o.momentum <= 0 || o.dampening != 0))
    throw Error("Nesterov momentum requires a momentum and zero dampening");
  Value d = Value::dict();  // PyTorch 1.13's defaults order
  d.set("lr", o.lr);
  d.set("momentum", o.momentum);
  d.set("dampening", o.dampening);
  d.set("weight_decay", o.weight_decay);
  d.set("nesterov", o.nesterov);
  d.set("maximize", o.maximize);
  d.set("foreach", Value());
  d.set("differentiable", false);
  return d;
}

SGD::SGD(std::vector<Tensor> params, const SgdOptions& options)
    : Optimizer(defaults_of(options)), updates_(std::make_unique<SgdUpdates>()) {
  add_param_group(std::move(params));
}

SGD::SGD(std::vector<std::pair<std::vector<Tensor>, Value>> groups, const SgdOptions& defaults)
    : Optimizer(defaults_of(defaults)), updates_(std::make_unique<SgdUpdates>()) {
  for (auto& [params, options] : groups) add_param_group(std::move(params), options);
}

SGD::~SGD() = default;

void SGD::check_loaded_state(const Value& state, const Tensor& param, const Value&,
                             const std::string& where) const {
  check_buffer(state, "momentum_buffer", param, where, /*none_ok=*/true);
}

void SGD::step() {
  NoGradGuard no_grad;
  updates_->run([&] {
    for (auto& group : param_groups()) {
      kernels::SgdParams s{group.get("lr"), group.get("momentum"), group.get("dampening"),
                           group.get("weight_decay"), group.flag("nesterov"),
                           group.flag("maximize"), false,
                           // PyTorch's rounding on this CPU, for every device: a CUDA run then
                           // steps as the CPU run does (PyTorch's own CUDA kernels fuse).
                           pytorch_cpu_path() == AtenCpuPath::Avx2};
      for (auto& p : group.params) {
        const Tensor& grad = p.grad();
        if (!grad.defined()) continue;
        TANDEM_CHECK(p.is_contiguous(), "SGD: contiguous parameters only");
        Tensor g = grad.contiguous();
        Tensor buf;
        if (s.momentum != 0) {
          Value& st = state(p);
          const Value* existing = st.find("momentum_buffer");
          s.first_step = existing == nullptr || existing->is_none();
          if (s.first_step) {
            buf = empty_like(p);
            st.set("momentum_buffer", Value(buf));
          } else {
            buf = existing->to_tensor();
          }
        }
        check_same_device("SGD", {&p, &g, &buf});
        updates_->add(p, s, {p.numel(), buffer(p), buffer(g), buffer(buf)}, g);
        p.bump_version();
        if (buf.defined()) buf.bump_version();
      }
    }
  });
}

}  // namespace tandem::optim
