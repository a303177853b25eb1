// interpolate (see upsample.h): output size and PyTorch's scale rules here, loops in
// kernels/cpu/upsample. When scale_factor is given PyTorch uses 1/scale_factor as the source
// scale (recompute_scale_factor unset), else in/out; with align_corners (in-1)/(out-1).
#include "framework/ops/upsample.h"

#include <cmath>

#include "framework/autograd/node.h"
#include "framework/tensor/factories.h"
#include "kernels/cpu/upsample.h"

namespace tandem {

using autograd::record;
using autograd::TensorList;

Tensor interpolate(const Tensor& input, std::optional<Pair> size,
                   std::optional<UpsampleScale> scale_factor, const std::string& mode,
                   bool align_corners) {
  TANDEM_CHECK(input.dim() == 4, "interpolate: expected a 4-D (N, C, H, W) input, got ",
               shape_str(input.sizes()));
  TANDEM_CHECK(size.has_value() != scale_factor.has_value(),
               "only one of size or scale_factor should be defined");
  TANDEM_CHECK(mode == "nearest" || mode == "bilinear", "interpolate: mode '", mode,
               "' is not supported (nearest, bilinear)");
  TANDEM_CHECK(!(mode == "nearest" && align_corners),
               "align_corners option can only be set with the interpolating modes: linear | "
               "bilinear | bicubic | trilinear");
  TANDEM_CHECK(input.device().is_cpu(), "interpolate: CPU tensors only for now");
  const int64_t H = input.size(2), W = input.size(3);
  int64_t oh, ow;
  if (size) {
    oh = (*size)[0];
    ow = (*size)[1];
  } else {
    oh = int64_t(std::floor(double(H) * scale_factor->h));
    ow = int64_t(std::floor(double(W) * scale_factor->w));
  }
  TANDEM_CHECK(oh > 0 && ow > 0, "interpolate: output size must be positive, got ", oh, "x", ow);
  auto source_scale = [&](int64_t in, int64_t out, std::optional<double> sf) {
    if (mode == "bilinear" && align_corners)
      return out > 1 ? double(in - 1) / double(out - 1) : 0.0;
    return sf ? 1.0 / *sf : double(in) / double(out);
  };
  kernels::cpu::UpsampleGeometry g{
      input.size(0) * input.size(1),
      H,
      W,
      oh,
      ow,
      source_scale(H, oh, scale_factor ? std::optional<double>(scale_factor->h) : std::nullopt),
      source_scale(W, ow, scale_factor ? std::optional<double>(scale_factor->w) : std::nullopt),
      align_corners};
  const Tensor x = input.contiguous();
  Tensor out = empty({input.size(0), input.size(1), oh, ow}, input.dtype());
  const bool nearest = mode == "nearest";
  dispatch_floating(x.dtype(), "interpolate", [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (nearest)
      kernels::cpu::upsample_nearest2d<T>(x.data_ptr<T>(), g, out.data_ptr<T>());
    else
      kernels::cpu::upsample_bilinear2d<T>(x.data_ptr<T>(), g, out.data_ptr<T>());
  });
  const Shape in_shape = input.sizes();
  record(nearest ? "UpsampleNearest2DBackward0" : "UpsampleBilinear2DBackward0", {input}, {out}, {},
         [g, in_shape, nearest](const TensorList& gr, const TensorList&) {
           Tensor go = gr[0].contiguous();
           Tensor gi = zeros(in_shape, go.dtype());
           dispatch_floating(go.dtype(), "interpolate_backward", [&](auto tag) {
             using T = typename decltype(tag)::type;
             if (nearest)
               kernels::cpu::upsample_nearest2d_backward<T>(go.data_ptr<T>(), g, gi.data_ptr<T>());
             else
               kernels::cpu::upsample_bilinear2d_backward<T>(go.data_ptr<T>(), g, gi.data_ptr<T>());
           });
           return TensorList{gi};
         });
  return out;
}

}  // namespace tandem
