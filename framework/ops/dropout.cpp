// dropout (see dropout.h). The mask keeps an element when a 24-bit uniform draw is < 1 - p (a
// Bernoulli(1 - p) draw, as torch's bernoulli_(1 - p)); kept elements are scaled by 1/(1 - p).
#include "framework/ops/dropout.h"

#include "framework/autograd/grad_mode.h"
#include "framework/autograd/node.h"
#include "framework/ops/elementwise.h"
#include "framework/tensor/factories.h"

namespace tandem {

using autograd::record;
using autograd::TensorList;

Tensor dropout(const Tensor& x, double p, bool training, Generator& gen) {
  if (p < 0 || p > 1) TANDEM_FAIL("dropout probability has to be between 0 and 1, but got ", p);
  if (!training || p == 0 || x.numel() == 0) return x;
  if (p == 1) return x * 0.0;
  const double scale = 1.0 / (1.0 - p);
  // The mask is drawn on the host from tandem's generator (so a run draws the same numbers on
  // every device) and moved to x's device.
  // float16/bfloat16 inputs get a float mask rounded to their type (the scale rounds as torch's).
  const bool half = is_half(x.dtype());
  TANDEM_CHECK(is_floating(x.dtype()), "dropout: expected a floating-point input, got ",
               dtype_name(x.dtype()));
  Tensor mask = empty(x.sizes(), TensorOptions(half ? DType::Float32 : x.dtype()));
  dispatch_floating(mask.dtype(), "dropout", [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* m = mask.data_ptr<T>();
    const float keep = float(1.0 - p);
    for (int64_t i = 0; i < mask.numel(); ++i) m[i] = gen.uniform_float() < keep ? T(scale) : T(0);
  });
  mask = mask.to(x.device(), x.dtype());
  Tensor out;
  {
    NoGradGuard no_grad;
    out = mul(x, mask);
  }
  record("NativeDropoutBackward0", {x}, {out}, {mask},
         [](const TensorList& g, const TensorList& s) { return TensorList{g[0] * s[0]}; });
  return out;
}

Tensor dropout(const Tensor& x, double p, bool training) {
  return dropout(x, p, training, default_generator());
}

}  // namespace tandem
