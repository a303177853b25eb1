// interpolate (see upsample.h): PyTorch's argument checks, output size and source scale rules
// here (torch/nn/functional.py and aten/src/ATen/native/UpSample.h), loops in the upsample kernel
// families. When scale_factor is given PyTorch uses 1/scale_factor as the source scale
// (recompute_scale_factor unset), else in/out; with align_corners (in-1)/(out-1).
#include "framework/ops/upsample.h"

#include <cmath>

#include "framework/autograd/node.h"
#include "framework/ops/pooling.h"  // adaptive_avg_pool2d, which is "area"
#include "framework/tensor/factories.h"
#include "framework/tensor/kernel_args.h"
#include "kernels/kernel_table.h"

namespace tandem {

using autograd::record;
using autograd::TensorList;

namespace {

enum class Mode { Nearest, NearestExact, Bilinear, Bicubic, Area };

Mode parse_mode(const std::string& mode) {
  if (mode == "nearest") return Mode::Nearest;
  if (mode == "nearest-exact") return Mode::NearestExact;
  if (mode == "bilinear") return Mode::Bilinear;
  if (mode == "bicubic") return Mode::Bicubic;
  if (mode == "area") return Mode::Area;
  // PyTorch's texts for a 4-D input: its 1-D and 3-D modes, then anything else.
  TANDEM_CHECK(mode != "linear", "Got 4D input, but linear mode needs 3D input");
  TANDEM_CHECK(mode != "trilinear", "Got 4D input, but trilinear mode needs 5D input");
  TANDEM_CHECK(false,
               "Input Error: Only 3D, 4D and 5D input Tensors supported (got 4D) for the modes: "
               "nearest | linear | bilinear | bicubic | trilinear | area | nearest-exact (got ",
               mode, ")");
  return Mode::Nearest;
}

// The source pixels per output pixel along one axis that PyTorch's kernels use.
double source_scale(Mode mode, int64_t in, int64_t out, bool align_corners,
                    std::optional<double> scale_factor) {
  switch (mode) {
    case Mode::Nearest:
      // nearest_idx copies when the size is unchanged and halves indices when it doubles,
      // whatever the scale factor; else a float scale (compute_scales_value<float>).
      if (out == in) return 1.0;
      if (out == 2 * in) return 0.5;
      return double(scale_factor ? float(1.0 / *scale_factor) : float(in) / float(out));
    case Mode::NearestExact:  // nearest_exact_idx: the float scale, no special sizes
      return double(scale_factor ? float(1.0 / *scale_factor) : float(in) / float(out));
    case Mode::Bilinear:
      // compute_source_index_and_lambda copies when the size is unchanged (1.1 on a 7-pixel
      // axis gives 7: the plain 1 / 1.1 would blur and shift).
      if (out == in) return 1.0;
      [[fallthrough]];
    case Mode::Bicubic:  // no such copy: 1.1 on 7 pixels resamples at 1 / 1.1
      if (align_corners) return out > 1 ? double(in - 1) / double(out - 1) : 0.0;
      return scale_factor ? 1.0 / *scale_factor : double(in) / double(out);
    case Mode::Area:
      break;
  }
  return 0.0;
}

struct UpsampleKernels {
  const char* node;
  decltype(kernels::upsample_nearest2d_forward)& forward;
  decltype(kernels::upsample_nearest2d_backward)& backward;
};

UpsampleKernels kernels_of(Mode mode) {
  switch (mode) {
    case Mode::NearestExact:
      return {"UpsampleNearestExact2DBackward0", kernels::upsample_nearest_exact2d_forward,
              kernels::upsample_nearest_exact2d_backward};
    case Mode::Bilinear:
      return {"UpsampleBilinear2DBackward0", kernels::upsample_bilinear2d_forward,
              kernels::upsample_bilinear2d_backward};
    case Mode::Bicubic:
      return {"UpsampleBicubic2DBackward0", kernels::upsample_bicubic2d_forward,
              kernels::upsample_bicubic2d_backward};
    default:
      return {"UpsampleNearest2DBackward0", kernels::upsample_nearest2d_forward,
              kernels::upsample_nearest2d_backward};
  }
}

}  // namespace

Tensor interpolate(const Tensor& input, std::optional<Pair> size,
                   std::optional<UpsampleScale> scale_factor, const std::string& mode_name,
                   std::optional<bool> align_corners_or_none,
                   std::optional<bool> recompute_scale_factor) {
  // The checks in torch.nn.functional.interpolate's order.
  if (mode_name == "nearest" || mode_name == "area" || mode_name == "nearest-exact")
    TANDEM_CHECK(!align_corners_or_none.has_value(),
                 "align_corners option can only be set with the interpolating modes: linear | "
                 "bilinear | bicubic | trilinear");
  const bool align_corners = align_corners_or_none.value_or(false);
  TANDEM_CHECK(input.dim() == 4, "interpolate: expected a 4-D (N, C, H, W) input, got ",
               shape_str(input.sizes()));
  TANDEM_CHECK(!(size && scale_factor), "only one of size or scale_factor should be defined");
  TANDEM_CHECK(size || scale_factor, "either size or scale_factor should be defined");
  TANDEM_CHECK(!(recompute_scale_factor.value_or(false) && size),
               "recompute_scale_factor is not meaningful with an explicit size.");
  const Mode mode = parse_mode(mode_name);
  const int64_t H = input.size(2), W = input.size(3);
  int64_t oh, ow;
  if (size) {
    oh = (*size)[0];
    ow = (*size)[1];
  } else {
    oh = int64_t(std::floor(double(H) * scale_factor->h));
    ow = int64_t(std::floor(double(W) * scale_factor->w));
    // Area always needs an output size: PyTorch recomputes the scale from it.
    if (recompute_scale_factor.value_or(false) || mode == Mode::Area) scale_factor.reset();
  }
  if (mode == Mode::Area) return adaptive_avg_pool2d(input, {oh, ow});
  TANDEM_CHECK(H > 0 && W > 0 && oh > 0 && ow > 0,
               "Input and output sizes should be greater than 0, but got input (H: ", H, ", W: ", W,
               ") output (H: ", oh, ", W: ", ow, ")");
  auto axis_factor = [&](double UpsampleScale::*axis) {
    return scale_factor ? std::optional<double>((*scale_factor).*axis) : std::nullopt;
  };
  const kernels::UpsampleGeometry g{
      input.size(0) * input.size(1),
      H,
      W,
      oh,
      ow,
      source_scale(mode, H, oh, align_corners, axis_factor(&UpsampleScale::h)),
      source_scale(mode, W, ow, align_corners, axis_factor(&UpsampleScale::w)),
      align_corners};
  const UpsampleKernels k = kernels_of(mode);
  const Tensor x = input.contiguous();
  Tensor out = empty({input.size(0), input.size(1), oh, ow}, input.options());
  k.forward(kernel_context(x), g, buffer(x), buffer(out));
  const Shape in_shape = input.sizes();
  record(k.node, {input}, {out}, {}, [g, in_shape, mode](const TensorList& gr, const TensorList&) {
    Tensor go = gr[0].contiguous();
    Tensor gi = zeros(in_shape, go.options());
    kernels_of(mode).backward(kernel_context(go), g, buffer(go), buffer(gi));
    return TensorList{gi};
  });
  return out;
}

}  // namespace tandem
