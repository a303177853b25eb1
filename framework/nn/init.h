// nn::init: in-place initialisers with torch.nn.init's names, defaults, fan rules and errors.
// Every function draws from an explicit Generator (default: tandem::default_generator()) and
// runs without recording autograd history.
//
//   nn::init::kaiming_normal_(conv->weight, 0.0, "fan_out", "relu");
//   nn::init::constant_(bn->bias, 0.0);
#pragma once

#include <optional>
#include <string>
#include <utility>

#include "framework/tensor/generator.h"
#include "framework/tensor/tensor.h"

namespace tandem::nn::init {

// Recommended gain for a nonlinearity ("linear", "conv2d", "sigmoid", "tanh", "relu",
// "leaky_relu" (param = negative slope, default 0.01), "selu").
double calculate_gain(const std::string& nonlinearity, std::optional<double> param = std::nullopt);
// {fan_in, fan_out}; throws for tensors with fewer than 2 dimensions.
std::pair<int64_t, int64_t> calculate_fan_in_and_fan_out(const Tensor& t);

Tensor& uniform_(Tensor& t, double a = 0.0, double b = 1.0, Generator& gen = default_generator());
Tensor& normal_(Tensor& t, double mean = 0.0, double std = 1.0,
                Generator& gen = default_generator());
Tensor& constant_(Tensor& t, double value);
Tensor& zeros_(Tensor& t);
Tensor& ones_(Tensor& t);
Tensor& xavier_uniform_(Tensor& t, double gain = 1.0, Generator& gen = default_generator());
Tensor& xavier_normal_(Tensor& t, double gain = 1.0, Generator& gen = default_generator());
// mode: "fan_in" | "fan_out"; nonlinearity as calculate_gain (a is leaky_relu's slope).
Tensor& kaiming_uniform_(Tensor& t, double a = 0.0, const std::string& mode = "fan_in",
                         const std::string& nonlinearity = "leaky_relu",
                         Generator& gen = default_generator());
Tensor& kaiming_normal_(Tensor& t, double a = 0.0, const std::string& mode = "fan_in",
                        const std::string& nonlinearity = "leaky_relu",
                        Generator& gen = default_generator());

// The default init of Linear and Conv (reference §6.4): kaiming_uniform_(w, a=sqrt(5)), then the
// bias from U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (left alone for conv when fan_in == 0).
void reset_linear_like(Tensor& weight, Tensor& bias, bool zero_fan_in_bias_bound, Generator& gen);

}  // namespace tandem::nn::init
