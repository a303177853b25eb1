// Automatic mixed precision, as torch.autocast: inside an autocast region, ops whose class the
// policy names run in the region's lower-precision type (bfloat16 or float16) or in float32,
// whatever their operands' types; every other op runs in its operands' type, and mixed-type
// elementwise ops, cat and stack promote as they always do (PyTorch's "promote" list).
//
//   { tandem::autocast::AutocastGuard amp(DeviceType::CPU, DType::BFloat16);
//     Tensor loss = cross_entropy(model.forward(x), y); }   // linear/conv in bf16, loss in fp32
//   loss.backward();                                          // outside the region, as PyTorch
//
// The policy is PyTorch's, per device type (autocast_policy.cpp says where each entry comes
// from). Casting keeps autograd history: a float32 parameter cast to bfloat16 gets its gradient
// back in float32 (master weights). Within one region, the lower-precision copy of a leaf that
// requires grad (a parameter) is made once and reused, as PyTorch's cast cache. An op casts its
// operands and then runs with autocast suspended, so the ops it is built from are not cast again
// (PyTorch's redispatch below the Autocast key); the backward pass also runs suspended.
#pragma once

#include <initializer_list>
#include <optional>
#include <vector>

#include "framework/tensor/tensor.h"

namespace tandem::autocast {

// The op classes the policy tells apart.
enum class OpClass {
  Matmul,          // mm, matmul, linear
  Conv,            // conv2d
  ConvTranspose,   // conv_transpose2d
  Loss,            // cross_entropy, nll_loss and the other losses (framework/ops/loss.h)
  Softmax,         // softmax, log_softmax
  Reduction,       // sum
  Transcendental,  // exp, log, pow
  Normalization,   // layer_norm, group_norm
};

enum class Cast {
  Keep,            // the operands' own types
  LowerPrecision,  // the region's bfloat16/float16
  Float32,
};

// The policy for ops of class `op` on `device` (pure; tested against PyTorch's).
Cast policy(DeviceType device, OpClass op);

// An op's operands after the casts: inline up to 4 (a list for cat and stack may spill).
using CastOperands = SmallVector<Tensor, 4>;

namespace detail {
extern thread_local bool active;  // some device's region is open and not suspended
std::optional<CastOperands> cast_operands(OpClass op,
                                          std::initializer_list<const Tensor*> operands);
std::optional<CastOperands> cast_operands(OpClass op, const std::vector<Tensor>& operands);
}  // namespace detail

// Whether an op on the calling thread must consult the policy.
inline bool active() { return detail::active; }

// The operands as an op of class `op` must see them, or nullopt when autocast does not apply
// (off for their device, or the class keeps types). Non-floating, float64 and undefined operands
// are never cast. When this returns a value, the op re-runs itself on it under a Suspend.
inline std::optional<CastOperands> cast_operands(OpClass op,
                                                 std::initializer_list<const Tensor*> operands) {
  if (!detail::active) return std::nullopt;
  return detail::cast_operands(op, operands);
}
inline std::optional<CastOperands> cast_operands(OpClass op, const std::vector<Tensor>& operands) {
  if (!detail::active) return std::nullopt;
  return detail::cast_operands(op, operands);
}

// Whether autocast is on for `device` on the calling thread, and its lower-precision type.
bool is_enabled(DeviceType device);
DType lower_precision_dtype(DeviceType device);

// An autocast region for one device type, as `with torch.autocast(device, dtype, enabled)`.
// CPU regions take bfloat16 only (PyTorch 1.13's CPU autocast refuses float16); CUDA regions
// take float16 or bfloat16. Leaving the outermost region empties the cast cache.
class AutocastGuard {
 public:
  AutocastGuard(DeviceType device, DType dtype, bool enabled = true);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  DeviceType device_;
  bool prev_enabled_;
  DType prev_dtype_;
};

// Autocast off on the calling thread until destroyed (an op's own implementation, the backward
// pass); regions stay open and resume afterwards.
class Suspend {
 public:
  Suspend();
  ~Suspend();
  Suspend(const Suspend&) = delete;
  Suspend& operator=(const Suspend&) = delete;

 private:
  bool prev_;
};

}  // namespace tandem::autocast
