// Internal to framework/ops: the launchers that run one elementwise functor (from
// kernels/common/elementwise_functors.h) on the tensor's device, CPU or CUDA. elementwise.cpp
// defines them; activation.cpp reuses them. No autograd here.
#pragma once

#include <optional>

#include "framework/tensor/tensor.h"
#include "kernels/common/elementwise_functors.h"

namespace tandem::ops_detail {

// x itself when floating, else x as float32: what exp, log, sqrt, sigmoid and tanh compute on
// an integer tensor (PyTorch promotes these ops' integer inputs to the default dtype).
Tensor to_floating(const Tensor& x);

// Whether a clamp of an integer tensor to these bounds has a floating result: a bound that is
// not an integer (PyTorch's result type of an integer tensor and a Python float).
bool clamp_needs_float(std::optional<double> min, std::optional<double> max);
// Refuses a fractional alpha when the result type is not floating ("For integral input tensors,
// argument alpha must not be a floating point number.").
void check_integral_alpha(DType result, double alpha);

// The parameters of a clamp to [min, max] (either bound may be absent, not both) of a tensor of
// type t, each bound checked to fit t (PyTorch's "value cannot be converted to type ...").
kernels::OpParams clamp_params(std::optional<double> min, std::optional<double> max, DType t,
                               const char* op);

// out = op(x), same shape and dtype as x (float32/float64/int64/int32).
Tensor run_unary(const Tensor& x, kernels::UnaryOp op, const kernels::OpParams& params,
                 const char* name);
// out = op(a, b) with broadcasting and dtype promotion.
Tensor run_binary(const Tensor& a, const Tensor& b, kernels::BinaryOp op,
                  const kernels::OpParams& params, const char* name);

}  // namespace tandem::ops_detail
