// Separable resampling: the per-axis taps and weights of torch's upsample kernels (PyTorch 1.13,
// aten/src/ATen/native/UpSample.h and cpu/UpSampleKernel.cpp), computed with their float and
// double steps, and the two passes that apply them.
#include "framework/data/resample.h"

#include <algorithm>
#include <cmath>

#include "kernels/common/error.h"

namespace tandem::data {

const char* interpolation_name(Interpolation mode) {
  switch (mode) {
    case Interpolation::nearest:
      return "nearest";
    case Interpolation::bilinear:
      return "bilinear";
    case Interpolation::bicubic:
      return "bicubic";
  }
  return "?";
}

namespace {

// area_pixel_compute_scale, align_corners=False, no scale factor: in / out in float.
float axis_scale(int64_t in, int64_t out) { return float(in) / float(out); }

// area_pixel_compute_source_index, align_corners=False: computed in double (dst + 0.5 is a
// double), stored as float.
float source_index(float scale, int64_t dst, bool cubic) {
  const float src = float(double(scale) * (double(dst) + 0.5) - 0.5);
  return (!cubic && src < 0) ? 0.0f : src;
}

float cubic1(float x, float A) { return ((A + 2) * x - (A + 3)) * x * x + 1; }
float cubic2(float x, float A) { return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A; }

// The antialiasing filters of UpSampleKernel.cpp (PIL's): triangle, and Keys' cubic with a = -0.5.
float triangle_filter(float x) {
  if (x < 0) x = -x;
  return x < 1 ? 1 - x : 0;
}
float cubic_filter(float x) {
  constexpr double a = -0.5;
  if (x < 0) x = -x;
  if (x < 1) return float(((a + 2.0) * x - (a + 3.0)) * x * x + 1);
  if (x < 2) return float((((x - 5) * x + 8) * x - 4) * a);
  return 0;
}

void antialias_weights(AxisWeights& aw, Interpolation mode) {
  const int64_t in = aw.in, out = aw.out;
  const float scale = axis_scale(in, out);
  const int interp_size = mode == Interpolation::bicubic ? 4 : 2;
  const float support =
      scale >= 1.0f ? float(interp_size * 0.5 * double(scale)) : float(interp_size * 0.5);
  const float invscale = scale >= 1.0f ? float(1.0 / double(scale)) : 1.0f;
  aw.taps = int64_t(std::ceil(support)) * 2 + 1;
  aw.index.assign(size_t(out * aw.taps), 0);
  aw.weight.assign(size_t(out * aw.taps), 0.0f);
  for (int64_t i = 0; i < out; ++i) {
    const float center = float(double(scale) * (double(i) + 0.5));
    const int64_t xmin = std::max(int64_t(double(center - support) + 0.5), int64_t(0));
    const int64_t xsize = std::min(int64_t(double(center + support) + 0.5), in) - xmin;
    int64_t* idx = aw.index.data() + i * aw.taps;
    float* wt = aw.weight.data() + i * aw.taps;
    float total = 0;
    for (int64_t j = 0; j < xsize && j < aw.taps; ++j) {
      const float x = float((double(float(j + xmin) - center) + 0.5) * double(invscale));
      wt[j] = mode == Interpolation::bicubic ? cubic_filter(x) : triangle_filter(x);
      total += wt[j];
    }
    for (int64_t j = 0; j < aw.taps; ++j) {
      idx[j] = std::min(xmin + j, in - 1);  // unused taps: weight 0 at a valid index
      if (j < xsize && total != 0) wt[j] /= total;
    }
  }
}

}  // namespace

AxisWeights axis_weights(int64_t in, int64_t out, Interpolation mode, bool antialias) {
  TANDEM_CHECK(in > 0 && out > 0, "resize: sizes must be positive, got ", in, " -> ", out);
  AxisWeights aw;
  aw.in = in, aw.out = out;
  if (antialias && mode != Interpolation::nearest) {
    antialias_weights(aw, mode);
    return aw;
  }
  const float scale = axis_scale(in, out);
  aw.taps = mode == Interpolation::nearest ? 1 : mode == Interpolation::bilinear ? 2 : 4;
  aw.index.resize(size_t(out * aw.taps));
  aw.weight.resize(size_t(out * aw.taps));
  for (int64_t i = 0; i < out; ++i) {
    int64_t* idx = aw.index.data() + i * aw.taps;
    float* wt = aw.weight.data() + i * aw.taps;
    if (in == out) {  // torch copies; the other taps weigh 0
      std::fill(idx, idx + aw.taps, i);
      std::fill(wt, wt + aw.taps, 0.0f);
      wt[mode == Interpolation::bicubic ? 1 : 0] = 1;
      continue;
    }
    switch (mode) {
      case Interpolation::nearest:
        idx[0] = std::min(int64_t(std::floor(float(i) * scale)), in - 1);
        wt[0] = 1;
        break;
      case Interpolation::bilinear: {
        const float real = source_index(scale, i, false);
        idx[0] = int64_t(real);
        idx[1] = idx[0] + (idx[0] < in - 1 ? 1 : 0);
        wt[1] = std::min(std::max(real - float(idx[0]), 0.0f), 1.0f);
        wt[0] = 1.0f - wt[1];
        break;
      }
      case Interpolation::bicubic: {
        const float real = source_index(scale, i, true);
        const int64_t i0 = int64_t(std::floor(real));
        const float t = real - float(i0);
        constexpr float A = -0.75f;
        wt[0] = cubic2(float(double(t) + 1.0), A);
        wt[1] = cubic1(t, A);
        const float t2 = float(1.0 - double(t));
        wt[2] = cubic1(t2, A);
        wt[3] = cubic2(float(double(t2) + 1.0), A);
        for (int64_t k = 0; k < 4; ++k) idx[k] = std::clamp(i0 - 1 + k, int64_t(0), in - 1);
        break;
      }
    }
  }
  return aw;
}

std::vector<int64_t> pil_nearest_index(int64_t in, int64_t out) {
  TANDEM_CHECK(in > 0 && out > 0, "resize: sizes must be positive, got ", in, " -> ", out);
  std::vector<int64_t> idx(static_cast<size_t>(out));
  if (in == out) {  // PIL copies
    for (int64_t i = 0; i < out; ++i) idx[size_t(i)] = i;
    return idx;
  }
  // ImagingScaleAffine: the position starts at half a step and is accumulated, not multiplied,
  // which decides the pixels where (i + 0.5) * in / out is a whole number.
  const double step = double(in) / double(out);
  double pos = step * 0.5;
  for (int64_t i = 0; i < out; ++i, pos += step)
    idx[size_t(i)] = std::min(int64_t(pos), in - 1);  // PIL would leave the fill past the edge
  return idx;
}

Resampler::Resampler(Interpolation mode, bool antialias)
    : mode_(mode), antialias_(antialias && mode != Interpolation::nearest) {}

std::shared_ptr<const AxisWeights> Resampler::weights(int64_t in, int64_t out) const {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto key = std::make_pair(in, out);
  const auto it = cache_.find(key);
  if (it != cache_.end()) return it->second;
  // Random crops meet many input sizes; a bound keeps a long run's cache small.
  if (cache_.size() >= 4096) cache_.clear();
  auto w = std::make_shared<const AxisWeights>(axis_weights(in, out, mode_, antialias_));
  cache_.emplace(key, w);
  return w;
}

void Resampler::resize(const float* in, int64_t C, int64_t H, int64_t W, int64_t y0, int64_t x0,
                       int64_t h, int64_t w, int64_t oh, int64_t ow,
                       std::vector<float>& out) const {
  TANDEM_CHECK(C > 0 && y0 >= 0 && x0 >= 0 && h > 0 && w > 0 && y0 + h <= H && x0 + w <= W,
               "resize: the window (", y0, ", ", x0, ", ", h, ", ", w, ") is not inside the image ",
               H, "x", W);
  TANDEM_CHECK(oh > 0 && ow > 0, "resize: the output size must be positive, got ", oh, "x", ow);
  // Pass 1, along the width: (C, h, w) window -> (C, h, ow).
  thread_local std::vector<float> tmp;
  tmp.resize(size_t(C * h * ow));
  if (w == ow) {
    for (int64_t r = 0; r < C * h; ++r) {
      const float* src = in + ((r / h) * H + y0 + r % h) * W + x0;
      std::copy(src, src + w, tmp.data() + r * ow);
    }
  } else {
    const auto xw = weights(w, ow);
    const int64_t taps = xw->taps;
    for (int64_t r = 0; r < C * h; ++r) {
      const float* src = in + ((r / h) * H + y0 + r % h) * W + x0;
      float* dst = tmp.data() + r * ow;
      const int64_t* idx = xw->index.data();
      const float* wt = xw->weight.data();
      for (int64_t x = 0; x < ow; ++x, idx += taps, wt += taps) {
        float acc = src[idx[0]] * wt[0];
        for (int64_t k = 1; k < taps; ++k) acc += src[idx[k]] * wt[k];
        dst[x] = acc;
      }
    }
  }
  // Pass 2, along the height: (C, h, ow) -> (C, oh, ow), a weighted sum of whole rows.
  if (h == oh) {
    out.swap(tmp);
    return;
  }
  out.resize(size_t(C * oh * ow));
  const auto yw = weights(h, oh);
  const int64_t taps = yw->taps;
  for (int64_t c = 0; c < C; ++c)
    for (int64_t y = 0; y < oh; ++y) {
      const int64_t* idx = yw->index.data() + y * taps;
      const float* wt = yw->weight.data() + y * taps;
      float* dst = out.data() + (c * oh + y) * ow;
      const float* row = tmp.data() + (c * h + idx[0]) * ow;
      for (int64_t x = 0; x < ow; ++x) dst[x] = row[x] * wt[0];
      for (int64_t k = 1; k < taps; ++k) {
        row = tmp.data() + (c * h + idx[k]) * ow;
        const float wk = wt[k];
        for (int64_t x = 0; x < ow; ++x) dst[x] += row[x] * wk;
      }
    }
}

void Resampler::resize_mask(const int64_t* in, int64_t W, int64_t y0, int64_t x0, int64_t h,
                            int64_t w, int64_t oh, int64_t ow, std::vector<int64_t>& out) {
  const std::vector<int64_t> ys = pil_nearest_index(h, oh), xs = pil_nearest_index(w, ow);
  out.resize(size_t(oh * ow));
  for (int64_t y = 0; y < oh; ++y) {
    const int64_t* src = in + (y0 + ys[size_t(y)]) * W + x0;
    int64_t* dst = out.data() + y * ow;
    for (int64_t x = 0; x < ow; ++x) dst[x] = src[xs[size_t(x)]];
  }
}

}  // namespace tandem::data
