// Losses (reference §6.3). nll_loss runs the nll kernel families on the (N, C, inner) layout and
// records its own backward; cross_entropy is log_softmax + nll_loss plus the label-smoothing term
// written with differentiable ops (with class probabilities, log_softmax and a weighted sum, as
// PyTorch's). mse_loss, l1_loss and kl_div are composed of elementwise ops and reductions, as
// PyTorch 1.13 composes l1_loss and kl_div. smooth_l1_loss, huber_loss and the two binary cross
// entropies compute their forward from elementwise ops too, but record PyTorch's own backward
// formulas (also written with elementwise ops, so every device runs them): autograd through the
// forward would differ where PyTorch's formula is not the derivative of its forward (smooth_l1's
// -1 at d = 0 when beta = 0, binary_cross_entropy's 1e-12 floor under x (1 - x)), and would give
// NaN through the branch `where` drops at infinite inputs.
#include "framework/ops/loss.h"

#include <cmath>

#include "framework/autograd/grad_mode.h"
#include "framework/autograd/node.h"
#include "framework/core/warning.h"
#include "framework/ops/activation.h"
#include "framework/ops/autocast.h"
#include "framework/ops/elementwise.h"
#include "framework/ops/reduction.h"
#include "framework/ops/scalar_type.h"
#include "framework/tensor/factories.h"
#include "framework/tensor/kernel_args.h"
#include "kernels/kernel_table.h"

namespace tandem {

using autograd::record;
using autograd::TensorList;
using ops_detail::scalar_type_name;

namespace {

// torch.nn.functional's warning before a regression loss broadcasts target against input.
void warn_if_broadcast(const Tensor& input, const Tensor& target) {
  if (target.sizes() == input.sizes()) return;
  warn_once(std::string("Using a target size (") + torch_size_str(target.sizes()) +
            ") that is different to the input size (" + torch_size_str(input.sizes()) +
            "). This will likely lead to incorrect results due to broadcasting. Please ensure "
            "they have the same size.");
}

Tensor reduce(const Tensor& loss, Reduction reduction) {
  if (reduction == Reduction::None) return loss;
  return reduction == Reduction::Sum ? sum(loss) : mean(loss);
}

// The factor PyTorch's loss backward formulas apply: 1 / numel for 'mean', else 1.
double reduction_norm(Reduction reduction, int64_t numel) {
  return reduction == Reduction::Mean ? 1.0 / double(numel) : 1.0;
}

// As PyTorch's kernels dispatched on the promoted type: "smooth_l1_cpu" not implemented for
// 'Long'.
void check_floating_kernel(const char* kernel, const Tensor& input, const Tensor& target) {
  const DType dt = promote_types(input.dtype(), target.dtype());
  TANDEM_CHECK(is_floating(dt), "\"", kernel, input.is_cuda() ? "cuda" : "cpu",
               "\" not implemented for '", scalar_type_name(dt), "'");
}

Tensor scalar_like(double value, const Tensor& t) { return scalar_tensor(value, t.options()); }

// log(sigmoid(x)) as PyTorch's log_sigmoid: min(x, 0) - log1p(exp(-|x|)) (softplus of a value
// <= 0 is log1p(exp(.)) exactly).
Tensor log_sigmoid(const Tensor& x) { return clamp(x, std::nullopt, 0.0) - softplus(-abs(x)); }

}  // namespace

Reduction reduction_from_string(const std::string& name) {
  if (name == "none") return Reduction::None;
  if (name == "mean") return Reduction::Mean;
  if (name == "sum") return Reduction::Sum;
  throw Error(name + " is not a valid value for reduction", "use \"none\", \"mean\" or \"sum\"");
}

namespace {

// The (N, C, inner) geometry of a loss input; `target_shape` is what the target must be.
struct ClassLayout {
  int64_t n = 1, c = 1, inner = 1;
  Shape target_shape;
};

ClassLayout class_layout(const Tensor& input, const Tensor& target) {
  TANDEM_CHECK(input.dim() >= 1, "input tensor should be 1D or 2D or more, got ", input.dim(), "D");
  TANDEM_CHECK(target.dtype() == DType::Int64, "expected scalar type Long but found ",
               scalar_type_name(target.dtype()));
  ClassLayout l;
  if (input.dim() == 1) {
    l.c = input.size(0);
    TANDEM_CHECK(target.dim() == 0,
                 "0D or 1D target tensor expected, multi-target not supported (1-D input needs a "
                 "0-D target, got ",
                 shape_str(target.sizes()), ")");
    return l;
  }
  l.n = input.size(0);
  l.c = input.size(1);
  TANDEM_CHECK(target.dim() >= 1 && target.size(0) == l.n, "Expected input batch_size (", l.n,
               ") to match target batch_size (", target.dim() >= 1 ? target.size(0) : 0, ").");
  l.target_shape = {l.n};
  for (int64_t d = 2; d < input.dim(); ++d) {
    l.inner *= input.size(d);
    l.target_shape.push_back(input.size(d));
  }
  TANDEM_CHECK(target.sizes() == l.target_shape, "Expected target size ", shape_str(l.target_shape),
               ", got ", shape_str(target.sizes()));
  return l;
}

// Weight as a contiguous tensor of the input's dtype (or undefined), checked against C.
Tensor class_weight(const Tensor& weight, int64_t c, DType dt) {
  if (!weight.defined()) return {};
  TANDEM_CHECK(
      weight.dim() == 1 && weight.numel() == c, "weight tensor should be defined either for all ",
      c, " classes or no classes but got weight tensor of shape: ", shape_str(weight.sizes()));
  return weight.detach().to(dt).contiguous();
}

// The per-sample losses -w[t] * lp[t] and weights w[t] (0 where ignored), without autograd.
// The kernel checks that every target is a class or ignore_index: on the CPU the call throws
// "Target 5 is out of bounds."; on a GPU the host's next wait does (kernels/common/bad_index.h),
// so checking costs a training step no wait for the device.
// sum(sample_weight) is 'mean's denominator: the total weight of the non-ignored targets.
struct NllParts {
  Tensor losses, sample_weight;
};

NllParts nll_parts(const Tensor& lp, const Tensor& target, const Tensor& weight,
                   const ClassLayout& l, int64_t ignore_index) {
  NllParts parts{empty(target.sizes(), lp.options()), empty(target.sizes(), lp.options())};
  kernels::nll_forward(kernel_context(lp), {l.n, l.c, l.inner}, ignore_index, buffer(lp),
                       buffer(target), buffer(weight), buffer(parts.losses),
                       buffer(parts.sample_weight));
  return parts;
}

}  // namespace

Tensor nll_loss(const Tensor& log_probs, const Tensor& target, const Tensor& weight_in,
                Reduction reduction, int64_t ignore_index) {
  if (const auto c =
          autocast::cast_operands(autocast::OpClass::Loss, {&log_probs, &target, &weight_in})) {
    const autocast::Suspend nested;
    return nll_loss((*c)[0], (*c)[1], (*c)[2], reduction, ignore_index);
  }
  check_same_device("nll_loss", {&log_probs, &target, &weight_in});
  const ClassLayout l = class_layout(log_probs, target);
  TANDEM_CHECK(is_floating(log_probs.dtype()), "nll_loss: expected a floating-point input, got ",
               dtype_name(log_probs.dtype()));
  const Tensor weight = class_weight(weight_in, l.c, log_probs.dtype());
  const Tensor lp = log_probs.contiguous();
  const Tensor tgt = target.contiguous();
  const NllParts parts = nll_parts(lp, tgt, weight, l, ignore_index);
  Tensor out, total;
  if (reduction == Reduction::None) {
    out = parts.losses;
  } else if (reduction == Reduction::Sum) {
    out = sum(parts.losses);
  } else {
    total = sum(parts.sample_weight);
    out = sum(parts.losses) / total;  // all targets ignored: 0 / 0 = nan, as PyTorch
  }
  const Shape in_shape = lp.sizes(), tgt_shape = target.sizes();
  record("NllLossBackward0", {log_probs}, {out}, {tgt, weight},
         [l, in_shape, tgt_shape, reduction, total, ignore_index](const TensorList& g,
                                                                  const TensorList& s) {
           Tensor per_sample = reduction == Reduction::None  ? g[0]
                               : reduction == Reduction::Sum ? g[0].expand(tgt_shape)
                                                             : (g[0] / total).expand(tgt_shape);
           per_sample = per_sample.contiguous();
           const Tensor& tgt = s[0];
           const Tensor& w = s[1];
           Tensor gin = zeros(in_shape, per_sample.options());
           kernels::nll_backward(kernel_context(gin), {l.n, l.c, l.inner}, ignore_index,
                                 buffer(per_sample), buffer(tgt), buffer(w), buffer(gin));
           return TensorList{gin};
         });
  return out;
}

namespace {

// PyTorch's cross_entropy_loss_prob_target: -sum_c w[c] * t[i, c] * log_softmax(x)[i, c], with
// t smoothed towards 1 / C; 'mean' divides by the number of samples (N * d1 * ...), not by the
// total weight.
Tensor cross_entropy_probabilities(const Tensor& input, const Tensor& target, const Tensor& weight,
                                   Reduction reduction, int64_t ignore_index,
                                   double label_smoothing) {
  TANDEM_CHECK(is_floating(target.dtype()),
               "Expected floating point type for target with class probabilities, got ",
               scalar_type_name(target.dtype()));
  TANDEM_CHECK(ignore_index < 0, "ignore_index is not supported for floating point target");
  check_same_device("cross_entropy", {&input, &target, &weight});
  const int64_t class_dim = input.dim() == 1 ? 0 : 1;
  const int64_t c = input.size(class_dim);
  TANDEM_CHECK(!weight.defined() || (weight.dim() == 1 && weight.numel() == c),
               "cross_entropy: weight tensor should be defined either for all ", c,
               " classes or no classes but got weight tensor of shape: ",
               shape_str(weight.defined() ? weight.sizes() : Shape{}));
  const Tensor lp = log_softmax(input, class_dim);
  Tensor t = target;
  if (label_smoothing > 0.0) {
    TANDEM_CHECK(label_smoothing <= 1.0,
                 "label_smoothing must be between 0.0 and 1.0. Got: ", label_smoothing);
    t = target * (1.0 - label_smoothing) + label_smoothing / double(c);
  }
  Tensor prod = lp * t;
  if (weight.defined()) {
    Shape wshape(size_t(input.dim()), 1);
    wshape[size_t(class_dim)] = c;
    prod = prod * weight.detach().reshape(wshape);
  }
  if (reduction == Reduction::None) return -sum(prod, {class_dim});
  if (reduction == Reduction::Sum) return -sum(prod);
  // No samples: 0 / 0 = NaN, as PyTorch.
  return -sum(prod) / (input.numel() == 0 ? 0.0 : double(input.numel() / c));
}

}  // namespace

Tensor cross_entropy(const Tensor& input, const Tensor& target, const Tensor& weight_in,
                     Reduction reduction, int64_t ignore_index, double label_smoothing) {
  if (const auto c =
          autocast::cast_operands(autocast::OpClass::Loss, {&input, &target, &weight_in})) {
    const autocast::Suspend nested;
    return cross_entropy((*c)[0], (*c)[1], (*c)[2], reduction, ignore_index, label_smoothing);
  }
  // As PyTorch: a target of the input's shape holds class probabilities; a label_smoothing
  // <= 0 is no smoothing (1.13 checks only the upper bound).
  if (target.sizes() == input.sizes())
    return cross_entropy_probabilities(input, target, weight_in, reduction, ignore_index,
                                       label_smoothing);
  TANDEM_CHECK(label_smoothing <= 1.0,
               "label_smoothing must be between 0.0 and 1.0. Got: ", label_smoothing);
  const int64_t class_dim = input.dim() == 1 ? 0 : 1;
  const Tensor lp = log_softmax(input, class_dim);
  const Tensor nll = nll_loss(lp, target, weight_in, reduction, ignore_index);
  if (label_smoothing <= 0.0) return nll;

  // smooth_i = -sum_c w[c] * lp[i, c], zero where the target is ignored.
  const int64_t c = input.size(class_dim);
  const Tensor weight = class_weight(weight_in, c, lp.dtype());
  Tensor weighted = lp;
  if (weight.defined()) {
    Shape wshape(size_t(input.dim()), 1);
    wshape[size_t(class_dim)] = c;
    weighted = lp * weight.reshape(wshape);
  }
  Tensor smooth = -sum(weighted, {class_dim});
  const Tensor ignored =
      eq(target, scalar_tensor(double(ignore_index), TensorOptions(DType::Int64, target.device())));
  smooth = where(ignored, zeros_like(smooth), smooth);
  Tensor ret;
  if (reduction == Reduction::None)
    ret = smooth;
  else if (reduction == Reduction::Sum)
    ret = sum(smooth);
  else
    ret = sum(smooth) / sum(nll_parts(lp.detach().contiguous(), target.contiguous(), weight,
                                      class_layout(lp, target), ignore_index)
                                .sample_weight);
  return nll * (1.0 - label_smoothing) + ret * (label_smoothing / double(c));
}

Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  if (const auto c = autocast::cast_operands(autocast::OpClass::Loss, {&input, &target})) {
    const autocast::Suspend nested;
    return mse_loss((*c)[0], (*c)[1], reduction);
  }
  warn_if_broadcast(input, target);
  check_floating_kernel("mse_", input, target);
  const Tensor diff = input - target;
  return reduce(diff * diff, reduction);
}

Tensor l1_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  if (const auto c = autocast::cast_operands(autocast::OpClass::Loss, {&input, &target})) {
    const autocast::Suspend nested;
    return l1_loss((*c)[0], (*c)[1], reduction);
  }
  warn_if_broadcast(input, target);
  // abs's gradient is sign(d): 0 where input == target, as PyTorch's.
  return reduce(abs(input - target), reduction);
}

Tensor smooth_l1_loss(const Tensor& input, const Tensor& target, Reduction reduction, double beta) {
  if (const auto c = autocast::cast_operands(autocast::OpClass::Loss, {&input, &target})) {
    const autocast::Suspend nested;
    return smooth_l1_loss((*c)[0], (*c)[1], reduction, beta);
  }
  warn_if_broadcast(input, target);
  TANDEM_CHECK(beta >= 0.0, "smooth_l1_loss does not support negative values for beta.");
  check_floating_kernel("smooth_l1_", input, target);
  Tensor out;
  {
    NoGradGuard no_grad;
    const Tensor z = abs(input - target);
    out = reduce(where(lt(z, scalar_like(beta, z)), 0.5 * z * z / beta, z - 0.5 * beta), reduction);
  }
  const Shape in_shape = input.sizes(), tgt_shape = target.sizes();
  const bool need_x = input.requires_grad(), need_t = target.requires_grad();
  record("SmoothL1LossBackward0", {input, target}, {out}, {input, target},
         [in_shape, tgt_shape, reduction, beta, need_x, need_t](const TensorList& g,
                                                                const TensorList& s) {
           // PyTorch's vectorised formula (its scalar one agrees): |d| >= beta ? +-norm :
           // norm * d / beta, times the gradient; +-: -1 unless d > 0, so -1 at d = 0 when
           // beta = 0. The target's is the same formula with the roles swapped.
           const Tensor d = s[0] - s[1];
           const double norm = reduction_norm(reduction, d.numel());
           auto grad = [&](const Tensor& x) {
             const Tensor sign =
                 where(gt(x, scalar_like(0.0, x)), scalar_like(norm, x), scalar_like(-norm, x));
             return where(ge(abs(x), scalar_like(beta, x)), sign, norm * x / beta) * g[0];
           };
           return TensorList{need_x ? sum_to(grad(d), in_shape) : Tensor(),
                             need_t ? sum_to(grad(s[1] - s[0]), tgt_shape) : Tensor()};
         });
  return out;
}

Tensor huber_loss(const Tensor& input, const Tensor& target, Reduction reduction, double delta) {
  if (const auto c = autocast::cast_operands(autocast::OpClass::Loss, {&input, &target})) {
    const autocast::Suspend nested;
    return huber_loss((*c)[0], (*c)[1], reduction, delta);
  }
  warn_if_broadcast(input, target);
  TANDEM_CHECK(delta > 0.0, "huber_loss does not support non-positive values for delta.");
  check_floating_kernel("huber_", input, target);
  Tensor out;
  {
    NoGradGuard no_grad;
    const Tensor z = abs(input - target);
    out = reduce(where(lt(z, scalar_like(delta, z)), 0.5 * z * z, delta * (z - 0.5 * delta)),
                 reduction);
  }
  const Shape in_shape = input.sizes(), tgt_shape = target.sizes();
  const bool need_x = input.requires_grad(), need_t = target.requires_grad();
  record("HuberLossBackward0", {input, target}, {out}, {input, target},
         [in_shape, tgt_shape, reduction, delta, need_x, need_t](const TensorList& g,
                                                                 const TensorList& s) {
           // PyTorch's vectorised formula: norm * clamp(d, -delta, delta) * grad.
           const Tensor d = s[0] - s[1];
           const double norm = reduction_norm(reduction, d.numel());
           auto grad = [&](const Tensor& x) { return norm * clamp(x, -delta, delta) * g[0]; };
           return TensorList{need_x ? sum_to(grad(d), in_shape) : Tensor(),
                             need_t ? sum_to(grad(s[1] - s[0]), tgt_shape) : Tensor()};
         });
  return out;
}

namespace {

// A weight (or pos_weight) for the binary cross entropies: PyTorch multiplies it into a loss of
// the input's shape in place, so it must broadcast to that shape.
Tensor loss_weight(const Tensor& weight, const Tensor& input) {
  if (!weight.defined()) return {};
  const Shape shape = broadcast_shapes(input.sizes(), weight.sizes());
  TANDEM_CHECK(shape == input.sizes(), "output with shape ", shape_str(input.sizes()),
               " doesn't match the broadcast shape ", shape_str(shape));
  return weight.detach().to(input.dtype());
}

// The last steps of the binary cross entropies' backward formulas: times the weight, then over
// numel for 'mean' (undefined stays undefined: a gradient not asked for).
Tensor weighted_mean_grad(Tensor grad, const Tensor& weight, Reduction reduction) {
  if (!grad.defined()) return grad;
  if (weight.defined()) grad = grad * weight;
  return reduction == Reduction::Mean ? grad / double(grad.numel()) : grad;
}

}  // namespace

Tensor binary_cross_entropy(const Tensor& input, const Tensor& target, const Tensor& weight_in,
                            Reduction reduction) {
  TANDEM_CHECK(
      !(input.is_cuda() && autocast::active() && autocast::is_enabled(DeviceType::CUDA)),
      "torch.nn.functional.binary_cross_entropy and torch.nn.BCELoss are unsafe to "
      "autocast.\nMany models use a sigmoid layer right before the binary cross entropy "
      "layer.\nIn this case, combine the two layers using "
      "torch.nn.functional.binary_cross_entropy_with_logits\nor torch.nn.BCEWithLogitsLoss."
      "  binary_cross_entropy_with_logits and BCEWithLogits are\nsafe to autocast.");
  if (const auto c =
          autocast::cast_operands(autocast::OpClass::Loss, {&input, &target, &weight_in})) {
    const autocast::Suspend nested;
    return binary_cross_entropy((*c)[0], (*c)[1], (*c)[2], reduction);
  }
  TANDEM_CHECK(target.sizes() == input.sizes(), "Using a target size (",
               torch_size_str(target.sizes()), ") that is different to the input size (",
               torch_size_str(input.sizes()),
               ") is deprecated. Please ensure they have the same size.");
  check_same_device("binary_cross_entropy", {&input, &target, &weight_in});
  TANDEM_CHECK(target.dtype() == input.dtype(), "Found dtype ", scalar_type_name(target.dtype()),
               " but expected ", scalar_type_name(input.dtype()));
  TANDEM_CHECK(is_floating(input.dtype()), "\"binary_cross_entropy",
               input.is_cuda() ? "_out_cuda" : "", "\" not implemented for '",
               scalar_type_name(input.dtype()), "'");
  // The weight broadcasts to the target's shape (torch's _infer_size), then multiplies in place.
  if (weight_in.defined()) broadcast_shapes(target.sizes(), weight_in.sizes());
  const Tensor weight = loss_weight(weight_in, input);
  Tensor out;
  {
    NoGradGuard no_grad;
    const Tensor& x = input;
    const Tensor& t = target;
    // PyTorch's CPU kernel checks every input (NaN included); its CUDA kernel asserts on the
    // device. On CUDA tandem does not check: a check would wait for the device at every step.
    // A value outside [0, 1] there gives a NaN loss, which training's non-finite check stops.
    if (x.numel() > 0 && !x.is_cuda()) {
      const Tensor zero = scalar_like(0.0, x), one = scalar_like(1.0, x);
      const double outside = (sum(lt(x, zero)) + sum(gt(x, one)) + sum(ne(x, x))).item();
      TANDEM_CHECK(outside == 0.0, "all elements of input should be between 0 and 1");
    }
    Tensor loss = (t - 1.0) * clamp(log(1.0 - x), -100.0, std::nullopt) -
                  t * clamp(log(x), -100.0, std::nullopt);
    if (weight.defined()) loss = loss * weight;
    out = reduce(loss, reduction);
  }
  const bool need_t = target.requires_grad();
  record("BinaryCrossEntropyBackward0", {input, target}, {out}, {input, target, weight},
         [reduction, need_t](const TensorList& g, const TensorList& s) {
           const Tensor& x = s[0];
           const Tensor& t = s[1];
           const Tensor& w = s[2];
           // PyTorch's: grad * (x - t) / max(x (1 - x), EPSILON), EPSILON the float 1e-12
           // (also in float64), and for the target -grad * logit(x); each times the weight
           // and over numel for 'mean'.
           const double epsilon = double(1e-12f);
           Tensor gx = g[0] * (x - t) / clamp((1.0 - x) * x, epsilon, std::nullopt);
           Tensor gt = need_t ? -log(x / (1.0 - x)) * g[0] : Tensor();
           return TensorList{weighted_mean_grad(gx, w, reduction),
                             weighted_mean_grad(gt, w, reduction)};
         });
  return out;
}

Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target,
                                        const Tensor& weight_in, Reduction reduction,
                                        const Tensor& pos_weight_in) {
  if (const auto c = autocast::cast_operands(autocast::OpClass::Loss,
                                             {&input, &target, &weight_in, &pos_weight_in})) {
    const autocast::Suspend nested;
    return binary_cross_entropy_with_logits((*c)[0], (*c)[1], (*c)[2], reduction, (*c)[3]);
  }
  TANDEM_CHECK(target.sizes() == input.sizes(), "Target size (", torch_size_str(target.sizes()),
               ") must be the same as input size (", torch_size_str(input.sizes()), ")");
  check_same_device("binary_cross_entropy_with_logits",
                    {&input, &target, &weight_in, &pos_weight_in});
  // PyTorch's in-place steps refuse an integer target or input this way.
  for (const Tensor* t : {&target, &input})
    TANDEM_CHECK(is_floating(t->dtype()),
                 "result type Float can't be cast to the desired output type ",
                 scalar_type_name(t->dtype()));
  // pos_weight broadcasts against the target first (naming them a and b in that order).
  if (pos_weight_in.defined()) broadcast_shapes(pos_weight_in.sizes(), target.sizes());
  const DType dt = promote_types(input.dtype(), target.dtype());
  const Tensor pos_weight = loss_weight(pos_weight_in, input.to(dt));
  const Tensor weight = loss_weight(weight_in, input.to(dt));
  Tensor out;
  {
    NoGradGuard no_grad;
    const Tensor& x = input;
    const Tensor& t = target;
    // PyTorch's form: m = max(-x, 0); log(1 + exp(-x)) = log(exp(-m) + exp(-x - m)) + m.
    const Tensor m = clamp(-x, 0.0, std::nullopt);
    const Tensor log_term = log(exp(-m) + exp(-x - m));
    Tensor loss;
    if (pos_weight.defined()) {
      const Tensor log_weight = (pos_weight - 1.0) * t + 1.0;
      loss = (1.0 - t) * x + log_weight * (log_term + m);
    } else {
      loss = (1.0 - t) * x + m + log_term;
    }
    if (weight.defined()) loss = loss * weight;
    out = reduce(loss, reduction);
  }
  const bool need_t = target.requires_grad();
  record("BinaryCrossEntropyWithLogitsBackward0", {input, target}, {out},
         {input, target, weight, pos_weight},
         [reduction, need_t](const TensorList& g, const TensorList& s) {
           const Tensor& x = s[0];
           const Tensor& t = s[1];
           const Tensor& w = s[2];
           const Tensor& pw = s[3];
           // PyTorch's: ((pw t + 1 - t) sigmoid(x) - pw t) * grad, or (sigmoid(x) - t) * grad;
           // for the target (log_sigmoid(-x) - pw log_sigmoid(x)) * grad, or -x * grad.
           Tensor gx, gt;
           if (pw.defined()) {
             const Tensor pt = pw * t;
             gx = ((pt + 1.0 - t) * sigmoid(x) - pt) * g[0];
             if (need_t) gt = (log_sigmoid(-x) - log_sigmoid(x) * pw) * g[0];
           } else {
             gx = (sigmoid(x) - t) * g[0];
             if (need_t) gt = -x * g[0];
           }
           return TensorList{weighted_mean_grad(gx, w, reduction),
                             weighted_mean_grad(gt, w, reduction)};
         });
  return out;
}

Tensor kl_div(const Tensor& input, const Tensor& target, const std::string& reduction,
              bool log_target) {
  if (const auto c = autocast::cast_operands(autocast::OpClass::Loss, {&input, &target})) {
    const autocast::Suspend nested;
    return kl_div((*c)[0], (*c)[1], reduction, log_target);
  }
  if (reduction == "mean")
    warn_once(
        "reduction: 'mean' divides the total loss by both the batch size and the support "
        "size.'batchmean' divides only by the batch size, and aligns with the KL div math "
        "definition.'mean' will be changed to behave the same as 'batchmean' in the next major "
        "release.");
  const bool batchmean = reduction == "batchmean";
  const Reduction r = batchmean ? Reduction::Sum : reduction_from_string(reduction);
  TANDEM_CHECK(is_floating(input.dtype()) && is_floating(target.dtype()),
               "kl_div: Integral inputs not supported.");
  Tensor loss;
  if (log_target) {
    loss = exp(target) * (target - input);
  } else {
    // xlogy(t, t) - t * x: 0 where t == 0 (NaN stays NaN).
    const Tensor zero = scalar_like(0.0, target);
    loss = where(eq(target, zero), zero, target * log(target)) - target * input;
  }
  Tensor out = reduce(loss, r);
  if (batchmean && input.dim() != 0) out = out / double(input.size(0));
  return out;
}

}  // namespace tandem
