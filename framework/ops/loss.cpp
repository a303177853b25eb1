// Losses (reference §6.3). nll_loss runs the nll kernel families on the (N, C, inner) layout and
// records its own backward; cross_entropy is log_softmax + nll_loss plus the label-smoothing term
// written with differentiable ops; mse_loss is composed of elementwise ops and reductions.
#include "framework/ops/loss.h"

#include <cmath>

#include "framework/autograd/node.h"
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

Tensor cross_entropy(const Tensor& input, const Tensor& target, const Tensor& weight_in,
                     Reduction reduction, int64_t ignore_index, double label_smoothing) {
  if (const auto c =
          autocast::cast_operands(autocast::OpClass::Loss, {&input, &target, &weight_in})) {
    const autocast::Suspend nested;
    return cross_entropy((*c)[0], (*c)[1], (*c)[2], reduction, ignore_index, label_smoothing);
  }
  TANDEM_CHECK(label_smoothing >= 0.0 && label_smoothing <= 1.0,
               "label_smoothing must be between 0.0 and 1.0. Got: ", label_smoothing);
  TANDEM_CHECK(!(is_floating(target.dtype()) && target.sizes() == input.sizes()),
               "cross_entropy: class-probability targets are not supported yet; pass int64 class "
               "indices");
  const int64_t class_dim = input.dim() == 1 ? 0 : 1;
  const Tensor lp = log_softmax(input, class_dim);
  const Tensor nll = nll_loss(lp, target, weight_in, reduction, ignore_index);
  if (label_smoothing == 0.0) return nll;

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
  // As PyTorch's kernel, dispatched on the promoted type: floating types only.
  const DType dt = promote_types(input.dtype(), target.dtype());
  TANDEM_CHECK(is_floating(dt), "\"mse_", input.is_cuda() ? "cuda" : "cpu",
               "\" not implemented for '", ops_detail::scalar_type_name(dt), "'");
  const Tensor diff = input - target;
  const Tensor sq = diff * diff;
  if (reduction == Reduction::None) return sq;
  return reduction == Reduction::Sum ? sum(sq) : mean(sq);
}

}  // namespace tandem
