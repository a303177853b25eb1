// Separable image resampling with torch's and PIL's index and weight rules, for the resize
// transforms. A resize is two passes (along the width, then along the height, as torch's CPU
// kernels go), each output value the weighted sum of a few input values; the taps and weights of
// one axis depend only on (input size, output size), so a Resampler computes them once per pair
// and keeps them.
//
// Rules (float images):
//   nearest                  torch's interpolate(mode="nearest"): src = floor(dst * (in / out)),
//                            scale in float, clamped to in - 1
//   bilinear, antialias off  torch's upsample_bilinear2d, align_corners=False: src =
//                            (dst + 0.5) * (in / out) - 0.5, clamped at 0; two taps
//   bicubic, antialias off   torch's upsample_bicubic2d: Keys' cubic with A = -0.75, four taps
//                            with indices clamped to the border
//   bilinear / bicubic, antialias on
//                            torch's _upsample_{bilinear,bicubic}2d_aa (PIL's resampling): the
//                            triangle (bicubic: a = -0.5) filter stretched by the downscale
//                            factor, weights normalised to sum 1
// Masks (int64 class indices) use PIL's NEAREST, which samples at pixel centres (floor((dst +
// 0.5) * in / out), accumulated as PIL does), the rule torchvision's segmentation references
// apply to their PIL masks and the one that keeps a mask aligned with a bilinear-resized image.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

namespace tandem::data {

enum class Interpolation { nearest, bilinear, bicubic };
const char* interpolation_name(Interpolation mode);

// One axis: output i = sum over k < taps of input[index[i * taps + k]] * weight[i * taps + k].
struct AxisWeights {
  int64_t in = 0, out = 0, taps = 0;
  std::vector<int64_t> index;
  std::vector<float> weight;
};
AxisWeights axis_weights(int64_t in, int64_t out, Interpolation mode, bool antialias);
// PIL NEAREST's source index of each of `out` outputs.
std::vector<int64_t> pil_nearest_index(int64_t in, int64_t out);

class Resampler {
 public:
  Resampler(Interpolation mode, bool antialias);
  Interpolation mode() const { return mode_; }
  bool antialias() const { return antialias_; }

  // Resizes the window (y0, x0, h, w) of the planar (C, H, W) image `in` to (C, oh, ow) in
  // `out`. The window must lie inside the image. Safe to call from several threads.
  void resize(const float* in, int64_t C, int64_t H, int64_t W, int64_t y0, int64_t x0, int64_t h,
              int64_t w, int64_t oh, int64_t ow, std::vector<float>& out) const;
  // The mask's counterpart, with PIL's NEAREST.
  static void resize_mask(const int64_t* in, int64_t W, int64_t y0, int64_t x0, int64_t h,
                          int64_t w, int64_t oh, int64_t ow, std::vector<int64_t>& out);

 private:
  std::shared_ptr<const AxisWeights> weights(int64_t in, int64_t out) const;

  Interpolation mode_;
  bool antialias_;
  mutable std::mutex mutex_;
  mutable std::map<std::pair<int64_t, int64_t>, std::shared_ptr<const AxisWeights>> cache_;
};

}  // namespace tandem::data
