// dropout and channel dropout (see dropout.h), as PyTorch's _dropout_impl: a mask of the input's
// shape (or (N, C, 1, ...) for channel dropout) keeps an element when a 53-bit uniform draw is
// < 1 - p (torch's CPU bernoulli_(1 - p) for every dtype: bernoulli_distribution<double>, one
// random64() per element) and holds 1 / (1 - p) there, divided in the input's type as
// PyTorch's noise.div_(1 - p); out = x * mask.
#include "framework/ops/dropout.h"

#include "framework/autograd/grad_mode.h"
#include "framework/autograd/node.h"
#include "framework/core/warning.h"
#include "framework/ops/elementwise.h"
#include "framework/tensor/factories.h"

namespace tandem {

using autograd::record;
using autograd::TensorList;

namespace {

void check_p(double p) {
  TANDEM_CHECK(p >= 0 && p <= 1, "dropout probability has to be between 0 and 1, but got ", p);
}

// The mask is drawn on the host from tandem's generator (so a run draws the same numbers on
// every device) and moved to x's device. float16/bfloat16 inputs get a float mask rounded to
// their type (PyTorch divides in float there and rounds too).
Tensor dropout_mask(const Shape& shape, double p, const Tensor& x, Generator& gen) {
  TANDEM_CHECK(is_floating(x.dtype()), "dropout: expected a floating-point input, got ",
               dtype_name(x.dtype()));
  Tensor mask = empty(shape, TensorOptions(is_half(x.dtype()) ? DType::Float32 : x.dtype()));
  dispatch_floating(mask.dtype(), "dropout", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T scale = T(1) / T(1.0 - p);
    const double keep = 1.0 - p;
    T* m = mask.data_ptr<T>();
    for (int64_t i = 0; i < mask.numel(); ++i) m[i] = gen.uniform_double() < keep ? scale : T(0);
  });
  return mask.to(x.device(), x.dtype());
}

// PyTorch's _dropout_impl: x itself when not training, p == 0 or x empty; x * 0 when p == 1;
// else x times a mask, of x's shape or, for channel dropout, (N, C, 1, ...) broadcast over x.
Tensor dropout_impl(const Tensor& x, double p, bool training, Generator& gen, bool channels) {
  check_p(p);
  if (!training || p == 0 || x.numel() == 0) return x;
  if (p == 1) return x * 0.0;
  Shape shape = x.sizes();
  if (channels) {
    TANDEM_CHECK(x.dim() >= 2, "Feature dropout requires at least 2 dimensions in the input");
    for (size_t d = 2; d < shape.size(); ++d) shape[d] = 1;
  }
  const Tensor mask = dropout_mask(shape, p, x, gen);
  Tensor out;
  {
    NoGradGuard no_grad;
    out = mul(x, mask);
  }
  record(channels ? "MulBackward0" : "NativeDropoutBackward0", {x}, {out}, {mask},
         [](const TensorList& g, const TensorList& s) { return TensorList{g[0] * s[0]}; });
  return out;
}

// Unbatched input of dropout1d/3d: a batch of one around channel dropout, as PyTorch.
Tensor dropout_unbatched(const Tensor& x, double p, bool training, Generator& gen) {
  return dropout_impl(x.unsqueeze(0), p, training, gen, true).squeeze(0);
}

// PyTorch's warning when dropout2d (spatial 2) or dropout3d (3) gets input of another rank.
void warn_unexpected_dims(int spatial, int64_t dim) {
  const std::string name = "dropout" + std::to_string(spatial) + "d";
  warn_once(name + ": Received a " + std::to_string(dim) + "-D input to " + name +
            ", which is deprecated and will result in an error in a future release. To retain "
            "the behavior and silence this warning, please use dropout instead. Note that " +
            name + " exists to provide channel-wise dropout on inputs with " +
            std::to_string(spatial) +
            " spatial dimensions, a channel dimension, and an optional batch dimension (i.e. " +
            std::to_string(spatial + 1) + "D or " + std::to_string(spatial + 2) + "D inputs).");
}

}  // namespace

Tensor dropout(const Tensor& x, double p, bool training, Generator& gen) {
  return dropout_impl(x, p, training, gen, false);
}

Tensor dropout1d(const Tensor& x, double p, bool training, Generator& gen) {
  check_p(p);
  TANDEM_CHECK(x.dim() == 2 || x.dim() == 3, "dropout1d: Expected 2D or 3D input, but received a ",
               x.dim(),
               "D input. Note that dropout1d exists to provide channel-wise dropout on inputs "
               "with 1 spatial dimension, a channel dimension, and an optional batch dimension "
               "(i.e. 2D or 3D inputs).");
  if (x.dim() == 2) return dropout_unbatched(x, p, training, gen);
  return dropout_impl(x, p, training, gen, true);
}

Tensor dropout2d(const Tensor& x, double p, bool training, Generator& gen) {
  check_p(p);
  if (x.dim() != 3 && x.dim() != 4) warn_unexpected_dims(2, x.dim());
  if (x.dim() == 3)
    warn_once(
        "dropout2d: Received a 3D input to dropout2d and assuming that channel-wise 1D dropout "
        "behavior is desired - input is interpreted as shape (N, C, L), where C is the channel "
        "dim. This behavior will change in a future release to interpret the input as one "
        "without a batch dimension, i.e. shape (C, H, W). To maintain the 1D channel-wise "
        "dropout behavior, please switch to using dropout1d instead.");
  return dropout_impl(x, p, training, gen, true);
}

Tensor dropout3d(const Tensor& x, double p, bool training, Generator& gen) {
  check_p(p);
  if (x.dim() != 4 && x.dim() != 5) warn_unexpected_dims(3, x.dim());
  if (x.dim() != 5) return dropout_unbatched(x, p, training, gen);
  return dropout_impl(x, p, training, gen, true);
}

Tensor dropout(const Tensor& x, double p, bool training) {
  return dropout(x, p, training, default_generator());
}
Tensor dropout1d(const Tensor& x, double p, bool training) {
  return dropout1d(x, p, training, default_generator());
}
Tensor dropout2d(const Tensor& x, double p, bool training) {
  return dropout2d(x, p, training, default_generator());
}
Tensor dropout3d(const Tensor& x, double p, bool training) {
  return dropout3d(x, p, training, default_generator());
}

}  // namespace tandem
