// The index rules of 2-D upsampling (aten/src/ATen/native/UpSample.h), written once as host+device
// functions for the CPU kernels (kernels/cpu/upsample.cpp) and the CUDA kernels
// (kernels/cuda/upsample.cu): nearest (PyTorch's legacy rule, src = min(floor(dst * scale),
// in - 1) in float), nearest-exact (src = min(floor((dst + 0.5) * scale), in - 1) in float),
// bilinear (align_corners or half-pixel source coordinates, two taps per axis) and bicubic
// (PyTorch's A = -0.75 cubic convolution, four taps per axis clamped to the border). Products are
// rounded on their own (hd_mul), so the GPU computes the CPU's bits.
//
// Backward, the CPU scatters each output's gradient to its source pixels; the GPU gathers, one
// thread per input pixel adding the contributions of the outputs that read it in row-major output
// order (and, within one output, in the CPU's tap order), so each input pixel receives the same
// additions in the same order as on the CPU, with no atomics. tests/test_spatial_functors.cpp
// checks on the CPU that the gather equals the scatter bit for bit.
#pragma once

#include <cmath>
#include <cstdint>

#include "kernels/common/host_device.h"
#include "kernels/common/kernel_params.h"
#include "kernels/common/pool_functors.h"  // defines: IndexRange

namespace tandem::kernels {

// --- nearest ---------------------------------------------------------------------------------

// In float, as PyTorch's nearest_idx (a float scale, a float product): with a double product a
// quotient such as 60 / 22 * 11 lands just under 30 and picks the row before torch's.
TANDEM_HD int64_t nearest_source(int64_t dst, int64_t in, double scale) {
  return hd_min(int64_t(floorf(float(dst) * float(scale))), in - 1);
}

template <typename T>
TANDEM_HD T upsample_nearest_at(const T* plane, const UpsampleGeometry& g, int64_t oh, int64_t ow) {
  return plane[nearest_source(oh, g.in_h, g.scale_h) * g.in_w +
               nearest_source(ow, g.in_w, g.scale_w)];
}

// The first output index in [0, out) whose source(o) >= i, for a source(o) that never decreases
// with o; `guess` is a nearby starting point (any value works, a good one makes this O(1)).
template <typename Source>
TANDEM_HD int64_t first_output_reaching(int64_t i, int64_t out, double guess, Source source) {
  int64_t o = guess <= 0 ? 0 : guess >= double(out) ? out : int64_t(guess);
  while (o > 0 && source(o - 1) >= i) --o;
  while (o < out && source(o) < i) ++o;
  return o;
}

// The outputs [begin, end) whose source(o) equals i, for a source that never decreases with o;
// `guess` as first_output_reaching's.
template <typename Source>
TANDEM_HD IndexRange outputs_with_source(int64_t i, int64_t out, double guess, Source source) {
  const int64_t begin = first_output_reaching(i, out, guess, source);
  int64_t end = begin;
  while (end < out && source(end) == i) ++end;
  return {begin, end};
}

// The outputs whose nearest source along one axis is input index i.
TANDEM_HD IndexRange nearest_outputs_of(int64_t i, int64_t in, int64_t out, double scale) {
  auto source = [=](int64_t o) { return nearest_source(o, in, scale); };
  return outputs_with_source(i, out, scale > 0 ? double(i) / scale : 0.0, source);
}

// Sums the gradient of the outputs in rows rh and columns rw, row-major, as the CPU's scatter
// adds them to the one input pixel they all read.
template <typename T>
TANDEM_HD T sum_block(const T* grad_out, int64_t out_w, IndexRange rh, IndexRange rw) {
  T sum = T(0);
  for (int64_t oh = rh.begin; oh < rh.end; ++oh)
    for (int64_t ow = rw.begin; ow < rw.end; ++ow) sum += grad_out[oh * out_w + ow];
  return sum;
}

template <typename T>
TANDEM_HD T upsample_nearest_grad_at(const T* grad_out, const UpsampleGeometry& g, int64_t ih,
                                     int64_t iw) {
  return sum_block(grad_out, g.out_w, nearest_outputs_of(ih, g.in_h, g.out_h, g.scale_h),
                   nearest_outputs_of(iw, g.in_w, g.out_w, g.scale_w));
}

// --- nearest-exact ---------------------------------------------------------------------------

// As PyTorch's nearest_neighbor_exact_compute_source_index: (dst + 0.5) * scale in double (exact:
// a float times a half-integer), rounded to float, floored. Round half up, as Pillow and scipy.
TANDEM_HD int64_t nearest_exact_source(int64_t dst, int64_t in, double scale) {
  return hd_min(int64_t(floorf(float(hd_mul(double(dst) + 0.5, double(float(scale)))))), in - 1);
}

template <typename T>
TANDEM_HD T upsample_nearest_exact_at(const T* plane, const UpsampleGeometry& g, int64_t oh,
                                      int64_t ow) {
  return plane[nearest_exact_source(oh, g.in_h, g.scale_h) * g.in_w +
               nearest_exact_source(ow, g.in_w, g.scale_w)];
}

// The outputs whose nearest-exact source along one axis is input index i.
TANDEM_HD IndexRange nearest_exact_outputs_of(int64_t i, int64_t in, int64_t out, double scale) {
  auto source = [=](int64_t o) { return nearest_exact_source(o, in, scale); };
  return outputs_with_source(i, out, scale > 0 ? double(i) / scale - 0.5 : 0.0, source);
}

template <typename T>
TANDEM_HD T upsample_nearest_exact_grad_at(const T* grad_out, const UpsampleGeometry& g, int64_t ih,
                                           int64_t iw) {
  return sum_block(grad_out, g.out_w, nearest_exact_outputs_of(ih, g.in_h, g.out_h, g.scale_h),
                   nearest_exact_outputs_of(iw, g.in_w, g.out_w, g.scale_w));
}

// --- bilinear --------------------------------------------------------------------------------

// Source coordinate of a destination pixel for linear interpolation.
TANDEM_HD double linear_source(int64_t dst, double scale, bool align_corners) {
  if (align_corners) return hd_mul(double(dst), scale);
  const double src = hd_mul(double(dst) + 0.5, scale) - 0.5;
  return src < 0 ? 0.0 : src;
}

// The two taps of one axis: input indices i0 <= i1 (equal at the last input) and their weights.
struct LinearTaps {
  int64_t i0, i1;
  double l0, l1;
};

TANDEM_HD LinearTaps linear_taps(int64_t dst, int64_t in, double scale, bool align_corners) {
  const double src = linear_source(dst, scale, align_corners);
  const int64_t i0 = hd_min(int64_t(src), in - 1);
  const int64_t i1 = i0 + (i0 < in - 1 ? 1 : 0);
  const double l1 = hd_min(hd_max(src - double(i0), 0.0), 1.0);
  return {i0, i1, 1.0 - l1, l1};
}

template <typename T>
TANDEM_HD T upsample_bilinear_at(const T* plane, const UpsampleGeometry& g, int64_t oh,
                                 int64_t ow) {
  const LinearTaps h = linear_taps(oh, g.in_h, g.scale_h, g.align_corners);
  const LinearTaps w = linear_taps(ow, g.in_w, g.scale_w, g.align_corners);
  const double top = hd_mul(w.l0, double(plane[h.i0 * g.in_w + w.i0])) +
                     hd_mul(w.l1, double(plane[h.i0 * g.in_w + w.i1]));
  const double bottom = hd_mul(w.l0, double(plane[h.i1 * g.in_w + w.i0])) +
                        hd_mul(w.l1, double(plane[h.i1 * g.in_w + w.i1]));
  return T(hd_mul(h.l0, top) + hd_mul(h.l1, bottom));
}

// The outputs along one axis that have input index i among their taps: i0(o) is i or i - 1
// (i1 = i0 + 1, or i1 = i0 at the last input), a contiguous range since i0 never decreases.
TANDEM_HD IndexRange linear_outputs_of(int64_t i, int64_t in, int64_t out, double scale,
                                       bool align_corners) {
  auto i0 = [=](int64_t o) { return linear_taps(o, in, scale, align_corners).i0; };
  const int64_t lo = i > 0 ? i - 1 : 0;
  // The destination whose source coordinate is lo, inverted from linear_source.
  const double guess =
      scale > 0 ? (align_corners ? double(lo) / scale : (double(lo) + 0.5) / scale - 0.5) : 0.0;
  const int64_t begin = first_output_reaching(lo, out, guess, i0);
  int64_t end = begin;
  while (end < out && i0(end) <= i) ++end;
  return {begin, end};
}

// The gradient reaching input (ih, iw): for each output reading it (row-major output order), the
// products of tap weights and the output gradient for each of the output's four taps that is
// (ih, iw), in the order (i0, i0), (i0, i1), (i1, i0), (i1, i1), each rounded to T before it is
// added, as the CPU's scatter does.
template <typename T>
TANDEM_HD T upsample_bilinear_grad_at(const T* grad_out, const UpsampleGeometry& g, int64_t ih,
                                      int64_t iw) {
  const IndexRange rh = linear_outputs_of(ih, g.in_h, g.out_h, g.scale_h, g.align_corners);
  const IndexRange rw = linear_outputs_of(iw, g.in_w, g.out_w, g.scale_w, g.align_corners);
  T sum = T(0);
  for (int64_t oh = rh.begin; oh < rh.end; ++oh) {
    const LinearTaps h = linear_taps(oh, g.in_h, g.scale_h, g.align_corners);
    for (int64_t ow = rw.begin; ow < rw.end; ++ow) {
      const LinearTaps w = linear_taps(ow, g.in_w, g.scale_w, g.align_corners);
      const double go = double(grad_out[oh * g.out_w + ow]);
      if (h.i0 == ih && w.i0 == iw) sum += T(hd_mul(hd_mul(h.l0, w.l0), go));
      if (h.i0 == ih && w.i1 == iw) sum += T(hd_mul(hd_mul(h.l0, w.l1), go));
      if (h.i1 == ih && w.i0 == iw) sum += T(hd_mul(hd_mul(h.l1, w.l0), go));
      if (h.i1 == ih && w.i1 == iw) sum += T(hd_mul(hd_mul(h.l1, w.l1), go));
    }
  }
  return sum;
}

// --- bicubic ---------------------------------------------------------------------------------

// Source coordinate for cubic interpolation: as linear_source, but not clamped at 0 (upsampling
// reads a tap before the first pixel, which the border clamp of cubic_taps brings back to 0).
TANDEM_HD double cubic_source(int64_t dst, double scale, bool align_corners) {
  if (align_corners) return hd_mul(double(dst), scale);
  return hd_mul(double(dst) + 0.5, scale) - 0.5;
}

// Keys' cubic convolution with A = -0.75 (PyTorch's cubic_convolution1 for |x| <= 1, 2 for
// 1 < |x| < 2), every product rounded on its own.
TANDEM_HD double cubic_convolution1(double x, double A) {
  return hd_mul(hd_mul(hd_mul(A + 2, x) - (A + 3), x), x) + 1;
}
TANDEM_HD double cubic_convolution2(double x, double A) {
  return hd_mul(hd_mul(hd_mul(A, x) - hd_mul(5, A), x) + hd_mul(8, A), x) - hd_mul(4, A);
}

// The four taps of one axis: input indices floor(src) - 1 .. floor(src) + 2, each clamped to
// [0, in - 1] (so near a border several taps read the same pixel), and their weights.
struct CubicTaps {
  int64_t i[4];
  double w[4];
  int64_t i0;  // floor(src), before clamping: never decreases with the output index
};

TANDEM_HD CubicTaps cubic_taps(int64_t dst, int64_t in, double scale, bool align_corners) {
  constexpr double A = -0.75;
  const double src = cubic_source(dst, scale, align_corners);
  const double fl = floor(src);
  const double t = src - fl;
  CubicTaps c;
  c.i0 = int64_t(fl);
  c.w[0] = cubic_convolution2(t + 1.0, A);
  c.w[1] = cubic_convolution1(t, A);
  const double t2 = 1.0 - t;  // the opposite side's distances, as PyTorch forms them
  c.w[2] = cubic_convolution1(t2, A);
  c.w[3] = cubic_convolution2(t2 + 1.0, A);
  for (int k = 0; k < 4; ++k) c.i[k] = hd_min(hd_max(c.i0 - 1 + k, int64_t(0)), in - 1);
  return c;
}

// sum over h taps of wh * (sum over w taps of ww * x), as PyTorch's separable loop; in double,
// rounded to T once. Output values are not clamped (they may overshoot the input's range).
template <typename T>
TANDEM_HD T upsample_bicubic_at(const T* plane, const UpsampleGeometry& g, int64_t oh, int64_t ow) {
  const CubicTaps h = cubic_taps(oh, g.in_h, g.scale_h, g.align_corners);
  const CubicTaps w = cubic_taps(ow, g.in_w, g.scale_w, g.align_corners);
  double acc = 0;
  for (int a = 0; a < 4; ++a) {
    const T* row = plane + h.i[a] * g.in_w;
    double r = 0;
    for (int b = 0; b < 4; ++b) r += hd_mul(w.w[b], double(row[w.i[b]]));
    acc += hd_mul(h.w[a], r);
  }
  return T(acc);
}

// The outputs along one axis with input index i among their (clamped) taps. Taps are
// clamp(i0 - 1 .. i0 + 2): they reach i when i0 - 1 <= i <= i0 + 2, and, through the clamp, the
// first pixel for every i0 <= 1 and the last for every i0 >= in - 3. So the outputs are those
// with i0 in [i - 2, i + 1], unbounded below at i = 0 and above at i = in - 1: contiguous, since
// i0 never decreases.
TANDEM_HD IndexRange cubic_outputs_of(int64_t i, int64_t in, int64_t out, double scale,
                                      bool align_corners) {
  auto i0 = [=](int64_t o) { return int64_t(floor(cubic_source(o, scale, align_corners))); };
  int64_t begin = 0;
  if (i > 0) {
    const int64_t lo = i - 2;
    const double guess =
        scale > 0 ? (align_corners ? double(lo) / scale : (double(lo) + 0.5) / scale - 0.5) : 0.0;
    begin = first_output_reaching(lo, out, guess, i0);
  }
  int64_t end = begin;
  if (i == in - 1)
    end = out;
  else
    while (end < out && i0(end) <= i + 1) ++end;
  return {begin, end};
}

// The gradient reaching input (ih, iw): for each output whose taps reach it (row-major output
// order), each of its 16 taps (h tap outer, w tap inner) that lands on (ih, iw) after clamping
// adds wh * ww * grad, rounded to T, as the CPU's scatter does.
template <typename T>
TANDEM_HD T upsample_bicubic_grad_at(const T* grad_out, const UpsampleGeometry& g, int64_t ih,
                                     int64_t iw) {
  const IndexRange rh = cubic_outputs_of(ih, g.in_h, g.out_h, g.scale_h, g.align_corners);
  const IndexRange rw = cubic_outputs_of(iw, g.in_w, g.out_w, g.scale_w, g.align_corners);
  T sum = T(0);
  for (int64_t oh = rh.begin; oh < rh.end; ++oh) {
    const CubicTaps h = cubic_taps(oh, g.in_h, g.scale_h, g.align_corners);
    for (int64_t ow = rw.begin; ow < rw.end; ++ow) {
      const CubicTaps w = cubic_taps(ow, g.in_w, g.scale_w, g.align_corners);
      const double go = double(grad_out[oh * g.out_w + ow]);
      for (int a = 0; a < 4; ++a) {
        if (h.i[a] != ih) continue;
        for (int b = 0; b < 4; ++b)
          if (w.i[b] == iw) sum += T(hd_mul(hd_mul(h.w[a], w.w[b]), go));
      }
    }
  }
  return sum;
}

// --- one entry per mode ----------------------------------------------------------------------

enum class UpsampleMode : uint8_t { Nearest, NearestExact, Bilinear, Bicubic };

// Output pixel (oh, ow) of one plane in mode M.
template <UpsampleMode M, typename T>
TANDEM_HD T upsample_at(const T* plane, const UpsampleGeometry& g, int64_t oh, int64_t ow) {
  if constexpr (M == UpsampleMode::Nearest)
    return upsample_nearest_at(plane, g, oh, ow);
  else if constexpr (M == UpsampleMode::NearestExact)
    return upsample_nearest_exact_at(plane, g, oh, ow);
  else if constexpr (M == UpsampleMode::Bilinear)
    return upsample_bilinear_at(plane, g, oh, ow);
  else
    return upsample_bicubic_at(plane, g, oh, ow);
}

// The gradient input pixel (ih, iw) of one plane gathers in mode M.
template <UpsampleMode M, typename T>
TANDEM_HD T upsample_grad_at(const T* grad_out, const UpsampleGeometry& g, int64_t ih, int64_t iw) {
  if constexpr (M == UpsampleMode::Nearest)
    return upsample_nearest_grad_at(grad_out, g, ih, iw);
  else if constexpr (M == UpsampleMode::NearestExact)
    return upsample_nearest_exact_grad_at(grad_out, g, ih, iw);
  else if constexpr (M == UpsampleMode::Bilinear)
    return upsample_bilinear_grad_at(grad_out, g, ih, iw);
  else
    return upsample_bicubic_grad_at(grad_out, g, ih, iw);
}

}  // namespace tandem::kernels
