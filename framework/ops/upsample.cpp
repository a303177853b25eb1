// interpolate (see upsample.h): output size and PyTorch's scale rules here, loops in
// the upsample kernel families. When scale_factor is given PyTorch uses 1/scale_factor as the
// source scale (recompute_scale_factor unset), else in/out; with align_corners (in-1)/(out-1).
#include "framework/ops/upsample.h"

#include <cmath>

#include "framework/autograd/node.h"
#include "framework/tensor/factories.h"
#include "framework/tensor/kernel_args.h"
#include "kernels/kernel_table.h"

namespace tandem {

using autograd::record;
using autograd::TensorList;

Tensor interpolate(const Tensor& input, std::optional<Pair> size,
                   std::optional<UpsampleScale> scale_factor, const std::string& mode,
                   std::optional<bool> align_corners_or_none) {
  TANDEM_CHECK(input.dim() == 4, "interpolate: expected a 4-D (N, C, H, W) input, got ",
               shape_str(input.sizes()));
  TANDEM_CHECK(size.has_value() != scale_factor.has_value(),
               "only one of size or scale_factor should be defined");
  TANDEM_CHECK(mode == "nearest" || mode == "bilinear", "interpolate: mode '", mode,
               "' is not supported (nearest, bilinear)");
  TANDEM_CHECK(!(mode == "nearest" && align_corners_or_none.has_value()),
               "align_corners option can only be set with the interpolating modes: linear | "
               "bilinear | bicubic | trilinear");
  const bool align_corners = align_corners_or_none.value_or(false);
  const int64_t H = input.size(2), W = input.size(3);
  int64_t oh, ow;
  if (size) {
    oh = (*size)[0];
    ow = (*size)[1];
  } else {
    oh = int64_t(std::floor(double(H) * scale_factor->h));
    ow = int64_t(std::floor(double(W) * scale_factor->w));
  }
  TANDEM_CHECK(H > 0 && W > 0 && oh > 0 && ow > 0,
               "Input and output sizes should be greater than 0, but got input (H: ", H, ", W: ", W,
               ") output (H: ", oh, ", W: ", ow, ")");
  auto source_scale = [&](int64_t in, int64_t out, std::optional<double> sf) {
    // PyTorch copies when the size is unchanged, whatever the scale factor (1.1 on a 7-pixel
    // axis gives 7: the plain 1 / 1.1 would blur and shift), and nearest halves indices when it
    // doubles (nearest_idx, compute_source_index_and_lambda).
    if (out == in) return 1.0;
    if (mode == "bilinear" && align_corners)
      return out > 1 ? double(in - 1) / double(out - 1) : 0.0;
    if (mode == "nearest") {
      if (out == 2 * in) return 0.5;
      // The float scale nearest_idx computes (compute_scales_value<float>).
      return double(sf ? float(1.0 / *sf) : float(in) / float(out));
    }
    return sf ? 1.0 / *sf : double(in) / double(out);
  };
  kernels::UpsampleGeometry g{
      input.size(0) * input.size(1),
      H,
      W,
      oh,
      ow,
      source_scale(H, oh, scale_factor ? std::optional<double>(scale_factor->h) : std::nullopt),
      source_scale(W, ow, scale_factor ? std::optional<double>(scale_factor->w) : std::nullopt),
      align_corners};
  const Tensor x = input.contiguous();
  Tensor out = empty({input.size(0), input.size(1), oh, ow}, input.options());
  const bool nearest = mode == "nearest";
  (nearest ? kernels::upsample_nearest2d_forward : kernels::upsample_bilinear2d_forward)(
      kernel_context(x), g, buffer(x), buffer(out));
  const Shape in_shape = input.sizes();
  record(nearest ? "UpsampleNearest2DBackward0" : "UpsampleBilinear2DBackward0", {input}, {out}, {},
         [g, in_shape, nearest](const TensorList& gr, const TensorList&) {
           Tensor go = gr[0].contiguous();
           Tensor gi = zeros(in_shape, go.options());
           (nearest ? kernels::upsample_nearest2d_backward : kernels::upsample_bilinear2d_backward)(
               kernel_context(go), g, buffer(go), buffer(gi));
           return TensorList{gi};
         });
  return out;
}

}  // namespace tandem
