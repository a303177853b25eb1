// Upsample module: forward through ops/upsample.h (interpolate).
#include "framework/nn/upsample.h"

#include "framework/ops/upsample.h"

namespace tandem::nn {

std::string Scale2::str() const {
  if (scalar) return python_float_str(h);
  std::string s("(");  // appends, not "(" + ..., which trips GCC 12's -Wrestrict
  s.append(python_float_str(h)).append(", ").append(python_float_str(w)).append(")");
  return s;
}

Upsample::Upsample(const UpsampleOptions& o) : Module("Upsample"), options(o) {
  TANDEM_CHECK(!(o.size && o.scale_factor), "only one of size or scale_factor should be defined");
  TANDEM_CHECK(o.size || o.scale_factor, "either size or scale_factor should be defined");
}

Tensor Upsample::forward(const Tensor& x) {
  std::optional<Pair> size;
  std::optional<UpsampleScale> scale;
  if (options.size) size = options.size->pair();
  if (options.scale_factor) scale = UpsampleScale{options.scale_factor->h, options.scale_factor->w};
  return interpolate(x, size, scale, options.mode, options.align_corners,
                     options.recompute_scale_factor);
}

std::string Upsample::extra_repr() const {
  std::string info = options.scale_factor ? "scale_factor=" + options.scale_factor->str()
                                          : "size=" + options.size->str();
  return info + ", mode=" + options.mode;
}

}  // namespace tandem::nn
