// Upsample module: forward through ops/upsample.h (interpolate).
#include "framework/nn/upsample.h"

#include "framework/ops/upsample.h"

namespace tandem::nn {

Upsample::Upsample(const UpsampleOptions& o) : Module("Upsample"), options(o) {
  TANDEM_CHECK(!(o.size && o.scale_factor), "only one of size or scale_factor should be defined");
  TANDEM_CHECK(o.size || o.scale_factor, "either size or scale_factor should be defined");
}

Tensor Upsample::forward(const Tensor& x) {
  std::optional<Pair> size;
  std::optional<UpsampleScale> scale;
  if (options.size) size = options.size->pair();
  if (options.scale_factor) scale = UpsampleScale{*options.scale_factor, *options.scale_factor};
  return interpolate(x, size, scale, options.mode, options.align_corners);
}

std::string Upsample::extra_repr() const {
  std::string info = options.scale_factor
                         ? "scale_factor=" + python_float_str(*options.scale_factor)
                         : "size=" + options.size->str();
  return info + ", mode=" + options.mode;
}

}  // namespace tandem::nn
