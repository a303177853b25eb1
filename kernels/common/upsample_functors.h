// The index rules of 2-D upsampling (aten/src/ATen/native/UpSample.h), written once as host+device
// functions for the CPU kernels (kernels/cpu/upsample.cpp) and the CUDA kernels
// (kernels/cuda/upsample.cu): nearest (PyTorch's legacy rule, src = min(floor(dst * scale),
// in - 1) in float) and bilinear (align_corners or half-pixel source coordinates, two taps per
// axis). Products are rounded on their own (hd_mul), so the GPU computes the CPU's bits.
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

// The outputs whose nearest source along one axis is input index i.
TANDEM_HD IndexRange nearest_outputs_of(int64_t i, int64_t in, int64_t out, double scale) {
  auto source = [=](int64_t o) { return nearest_source(o, in, scale); };
  const int64_t begin = first_output_reaching(i, out, scale > 0 ? double(i) / scale : 0.0, source);
  int64_t end = begin;
  while (end < out && source(end) == i) ++end;
  return {begin, end};
}

template <typename T>
TANDEM_HD T upsample_nearest_grad_at(const T* grad_out, const UpsampleGeometry& g, int64_t ih,
                                     int64_t iw) {
  const IndexRange rh = nearest_outputs_of(ih, g.in_h, g.out_h, g.scale_h);
  const IndexRange rw = nearest_outputs_of(iw, g.in_w, g.out_w, g.scale_w);
  T sum = T(0);
  for (int64_t oh = rh.begin; oh < rh.end; ++oh)
    for (int64_t ow = rw.begin; ow < rw.end; ++ow) sum += grad_out[oh * g.out_w + ow];
  return sum;
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

}  // namespace tandem::kernels
