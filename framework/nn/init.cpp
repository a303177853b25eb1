// nn::init implementation (torch/nn/init.py).
#include "framework/nn/init.h"

#include <cmath>

#include "framework/autograd/grad_mode.h"
#include "framework/tensor/factories.h"

namespace tandem::nn::init {

namespace {
bool zero_element_noop(const Tensor& t) {
  // PyTorch only warns "Initializing zero-element tensors is a no-op".
  return t.numel() == 0;
}

double calculate_correct_fan(const Tensor& t, const std::string& mode) {
  TANDEM_CHECK(mode == "fan_in" || mode == "fan_out", "Mode ", mode,
               " not supported, please use one of ['fan_in', 'fan_out']");
  auto [fan_in, fan_out] = calculate_fan_in_and_fan_out(t);
  return double(mode == "fan_in" ? fan_in : fan_out);
}
}  // namespace

double calculate_gain(const std::string& nonlinearity, std::optional<double> param) {
  if (nonlinearity == "linear" || nonlinearity == "conv1d" || nonlinearity == "conv2d" ||
      nonlinearity == "conv3d" || nonlinearity == "conv_transpose1d" ||
      nonlinearity == "conv_transpose2d" || nonlinearity == "conv_transpose3d" ||
      nonlinearity == "sigmoid")
    return 1.0;
  if (nonlinearity == "tanh") return 5.0 / 3;
  if (nonlinearity == "relu") return std::sqrt(2.0);
  if (nonlinearity == "leaky_relu") {
    double slope = param.value_or(0.01);
    return std::sqrt(2.0 / (1 + slope * slope));
  }
  if (nonlinearity == "selu") return 3.0 / 4;
  TANDEM_FAIL("Unsupported nonlinearity ", nonlinearity);
}

std::pair<int64_t, int64_t> calculate_fan_in_and_fan_out(const Tensor& t) {
  TANDEM_CHECK(t.dim() >= 2,
               "Fan in and fan out can not be computed for tensor with fewer than 2 dimensions");
  int64_t receptive = 1;
  for (int64_t d = 2; d < t.dim(); ++d) receptive *= t.size(d);
  return {t.size(1) * receptive, t.size(0) * receptive};
}

Tensor& uniform_(Tensor& t, double a, double b, Generator& gen) {
  NoGradGuard g;
  if (zero_element_noop(t)) return t;
  Tensor d = t.detach();
  tandem::uniform_(d, a, b, gen);
  return t;
}

Tensor& normal_(Tensor& t, double mean, double std, Generator& gen) {
  NoGradGuard g;
  if (zero_element_noop(t)) return t;
  Tensor d = t.detach();
  tandem::normal_(d, mean, std, gen);
  return t;
}

Tensor& constant_(Tensor& t, double value) {
  NoGradGuard g;
  t.detach().fill_(value);
  return t;
}

Tensor& zeros_(Tensor& t) { return constant_(t, 0.0); }
Tensor& ones_(Tensor& t) { return constant_(t, 1.0); }

Tensor& xavier_uniform_(Tensor& t, double gain, Generator& gen) {
  auto [fan_in, fan_out] = calculate_fan_in_and_fan_out(t);
  double std = gain * std::sqrt(2.0 / double(fan_in + fan_out));
  double a = std::sqrt(3.0) * std;
  return init::uniform_(t, -a, a, gen);
}

Tensor& xavier_normal_(Tensor& t, double gain, Generator& gen) {
  auto [fan_in, fan_out] = calculate_fan_in_and_fan_out(t);
  double std = gain * std::sqrt(2.0 / double(fan_in + fan_out));
  return init::normal_(t, 0.0, std, gen);
}

Tensor& kaiming_uniform_(Tensor& t, double a, const std::string& mode,
                         const std::string& nonlinearity, Generator& gen) {
  if (zero_element_noop(t)) return t;
  double fan = calculate_correct_fan(t, mode);
  double gain = calculate_gain(nonlinearity, a);
  double std = gain / std::sqrt(fan);
  double bound = std::sqrt(3.0) * std;
  return init::uniform_(t, -bound, bound, gen);
}

Tensor& kaiming_normal_(Tensor& t, double a, const std::string& mode,
                        const std::string& nonlinearity, Generator& gen) {
  if (zero_element_noop(t)) return t;
  double fan = calculate_correct_fan(t, mode);
  double gain = calculate_gain(nonlinearity, a);
  return init::normal_(t, 0.0, gain / std::sqrt(fan), gen);
}

void reset_linear_like(Tensor& weight, Tensor& bias, bool zero_fan_in_bias_bound, Generator& gen) {
  kaiming_uniform_(weight, std::sqrt(5.0), "fan_in", "leaky_relu", gen);
  if (!bias.defined()) return;
  auto [fan_in, fan_out] = calculate_fan_in_and_fan_out(weight);
  if (fan_in == 0) {
    if (zero_fan_in_bias_bound) init::uniform_(bias, 0.0, 0.0, gen);  // Linear: bound 0
    return;                                                           // Conv: left uninitialised
  }
  double bound = 1.0 / std::sqrt(double(fan_in));
  init::uniform_(bias, -bound, bound, gen);
}

}  // namespace tandem::nn::init
