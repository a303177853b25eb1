// BatchNorm implementation: the module-level bookkeeping (num_batches_tracked, the momentum /
// cumulative-average factor, which buffers are passed); the math is ops::batch_norm.
#include "framework/nn/batchnorm.h"

#include "framework/autograd/grad_mode.h"
#include "framework/nn/size2.h"
#include "framework/ops/normalization.h"
#include "framework/tensor/factories.h"

namespace tandem::nn {

BatchNormBase::BatchNormBase(const char* name, const BatchNormOptions& o)
    : Module(name), options(o) {
  int64_t n = o.num_features;
  weight = register_parameter("weight", o.affine ? ones({n}) : Tensor());
  bias = register_parameter("bias", o.affine ? zeros({n}) : Tensor());
  running_mean = register_buffer("running_mean", o.track_running_stats ? zeros({n}) : Tensor());
  running_var = register_buffer("running_var", o.track_running_stats ? ones({n}) : Tensor());
  num_batches_tracked = register_buffer(
      "num_batches_tracked",
      o.track_running_stats ? scalar_tensor(0, TensorOptions(DType::Int64)) : Tensor());
}

void BatchNormBase::reset_running_stats() {
  if (!options.track_running_stats) return;
  NoGradGuard g;
  running_mean.detach().zero_();
  running_var.detach().fill_(1.0);
  num_batches_tracked.detach().zero_();
}

void BatchNormBase::reset_parameters() {
  reset_running_stats();
  if (!options.affine) return;
  NoGradGuard g;
  weight.detach().fill_(1.0);
  bias.detach().zero_();
}

Tensor BatchNormBase::forward(const Tensor& x) {
  check_input_dim(x);
  double factor = options.momentum.value_or(0.0);
  if (training_ && options.track_running_stats && num_batches_tracked.defined()) {
    NoGradGuard g;
    num_batches_tracked.detach().add_(1);
    if (!options.momentum) factor = 1.0 / double(num_batches_tracked.item());
  }
  bool bn_training = training_ || (!running_mean.defined() && !running_var.defined());
  bool pass_stats = !training_ || options.track_running_stats;
  return batch_norm(x, pass_stats ? running_mean : Tensor(), pass_stats ? running_var : Tensor(),
                    weight, bias, bn_training, factor, options.eps);
}

std::string BatchNormBase::extra_repr() const {
  const auto& o = options;
  return std::to_string(o.num_features) + ", eps=" + python_float_str(o.eps) +
         ", momentum=" + (o.momentum ? python_float_str(*o.momentum) : "None") +
         ", affine=" + py_bool(o.affine) +
         ", track_running_stats=" + py_bool(o.track_running_stats);
}

void BatchNormBase::load_from_state_dict(StateDict& state_dict, const std::string& prefix,
                                         std::optional<int64_t> version,
                                         std::vector<std::string>& missing_keys,
                                         std::vector<std::string>& unexpected_keys,
                                         std::vector<std::string>& error_msgs) {
  // Checkpoints from before num_batches_tracked existed (version < 2, or a dict without
  // _metadata) get it as tensor(0) instead of a missing key.
  if ((!version || *version < 2) && options.track_running_stats) {
    std::string key = prefix + "num_batches_tracked";
    if (!state_dict.contains(key))
      state_dict.insert(key, scalar_tensor(0, TensorOptions(DType::Int64)));
  }
  Module::load_from_state_dict(state_dict, prefix, version, missing_keys, unexpected_keys,
                               error_msgs);
}

void BatchNorm1d::check_input_dim(const Tensor& x) const {
  TANDEM_CHECK(x.dim() == 2 || x.dim() == 3, "expected 2D or 3D input (got ", x.dim(), "D input)");
}

void BatchNorm2d::check_input_dim(const Tensor& x) const {
  TANDEM_CHECK(x.dim() == 4, "expected 4D input (got ", x.dim(), "D input)");
}

}  // namespace tandem::nn
