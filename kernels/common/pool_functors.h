// The per-window arithmetic of 2-D pooling, written once as host+device functions for the CPU
// kernels (kernels/cpu/pooling.cpp) and the CUDA kernels (kernels/cuda/pooling.cu), following
// PyTorch: max pooling records the plane-flat index of each window's maximum (the first of equal
// maxima, the last NaN); average pooling divides by PyTorch's window size (count_include_pad,
// windows clipped at the padded border) or by divisor_override; adaptive pooling uses
// start = floor(i*in/out), end = ceil((i+1)*in/out); max unpooling writes each value at its
// index, the last of equal indices winning as on PyTorch's CPU.
//
// The backward passes come in two forms over the same windows: the CPU scatters each output's
// gradient into its window; the GPU gathers, one thread per input element summing the gradients
// of the outputs whose windows hold it in row-major output order (the *_grad_at functions), so
// each input element receives the same additions in the same order as on the CPU and no
// floating-point atomics are needed. tests/test_spatial_functors.cpp checks on the CPU that the
// gather equals the scatter bit for bit.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>  // memcpy (host and device)
#include <type_traits>

#include "kernels/common/host_device.h"
#include "kernels/common/kernel_params.h"
#if !defined(__CUDA_ARCH__)
#include <atomic>  // std::atomic_ref: max_unpool_claim's host path
#endif

namespace tandem::kernels {

// --- max pooling -----------------------------------------------------------------------------

// PyTorch's rule for one candidate: it replaces the best so far when it is greater or NaN (so the
// first of equal maxima and the last NaN win). The choice is made by masks on the bits, not by a
// branch: after a ReLU the comparison is a coin flip that a branch predictor keeps getting wrong,
// and compilers turned plain selects into jumps on the CPU (max pooling was a fifth of a CNN
// step). Same picks, same bits as a select.
template <typename T>
TANDEM_HD void take_if_max(T v, int64_t i, T& best, int64_t& best_i) {
  static_assert(sizeof(T) == 4 || sizeof(T) == 8, "take_if_max: float or double");
  using Bits = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
  const bool take = (v > best) | (v != v);
  const Bits mask = Bits(0) - Bits(take);
  Bits vb, bb;
  memcpy(&vb, &v, sizeof(T));
  memcpy(&bb, &best, sizeof(T));
  bb = (vb & mask) | (bb & ~mask);
  memcpy(&best, &bb, sizeof(T));
  const int64_t imask = -int64_t(take);
  best_i = (i & imask) | (best_i & ~imask);
}

// The max of output (oh, ow)'s window over `plane` (in_h x in_w) and its plane-flat index; a
// window with no element inside the input gives -inf and index -1.
template <typename T>
TANDEM_HD void max_pool_window(const T* plane, const PoolGeometry& g, int64_t oh, int64_t ow,
                               T& value, int64_t& index) {
  const int64_t h0 = oh * g.stride_h - g.pad_h, w0 = ow * g.stride_w - g.pad_w;
  T best = -T(INFINITY);
  int64_t best_i = -1;
  for (int64_t kh = 0; kh < g.kernel_h; ++kh) {
    const int64_t h = h0 + kh * g.dilation_h;
    if (h < 0 || h >= g.in_h) continue;
    for (int64_t kw = 0; kw < g.kernel_w; ++kw) {
      const int64_t w = w0 + kw * g.dilation_w;
      if (w < 0 || w >= g.in_w) continue;
      const int64_t i = h * g.in_w + w;
      if (best_i < 0) {
        best = plane[i];
        best_i = i;
      } else {
        take_if_max(plane[i], i, best, best_i);
      }
    }
  }
  value = best;
  index = best_i;
}

// --- which outputs see an input element --------------------------------------------------------

// A half-open range of output indices.
struct IndexRange {
  int64_t begin, end;
};

// The outputs o in [0, out) of a sliding window (start o * stride - pad, extent `extent` input
// elements) whose window span holds input index i (0 <= i): o * stride - pad <= i <
// o * stride - pad + extent.
TANDEM_HD IndexRange windows_covering(int64_t i, int64_t pad, int64_t extent, int64_t stride,
                                      int64_t out) {
  const int64_t p = i + pad;
  const int64_t begin = p < extent ? 0 : (p - extent) / stride + 1;
  const int64_t end = hd_min(p / stride + 1, out);
  return {begin, end > begin ? end : begin};
}

// The gradient reaching input (h, w) of a plane through max pooling: the sum, in output order, of
// the output gradients whose recorded index is h * in_w + w.
// The sum, in output order, of the gradients of the outputs in rows rh x columns rw (of a plane
// out_w wide) whose recorded index is `target`: a max pooling's gradient reaching one input.
template <typename T>
TANDEM_HD T indexed_grad_sum(const T* grad_out, const int64_t* indices, int64_t out_w,
                             IndexRange rh, IndexRange rw, int64_t target) {
  T sum = T(0);
  for (int64_t oh = rh.begin; oh < rh.end; ++oh)
    for (int64_t ow = rw.begin; ow < rw.end; ++ow) {
      const int64_t o = oh * out_w + ow;
      if (indices[o] == target) sum += grad_out[o];
    }
  return sum;
}

template <typename T>
TANDEM_HD T max_pool_grad_at(const T* grad_out, const int64_t* indices, const PoolGeometry& g,
                             int64_t h, int64_t w) {
  const IndexRange rh =
      windows_covering(h, g.pad_h, (g.kernel_h - 1) * g.dilation_h + 1, g.stride_h, g.out_h);
  const IndexRange rw =
      windows_covering(w, g.pad_w, (g.kernel_w - 1) * g.dilation_w + 1, g.stride_w, g.out_w);
  return indexed_grad_sum(grad_out, indices, g.out_w, rh, rw, h * g.in_w + w);
}

// --- average pooling -------------------------------------------------------------------------

// The window [h0, h1) x [w0, w1) of output (oh, ow) clipped to the input, and PyTorch's divisor
// for it: the window clipped to the padded input when count_include_pad, else the clipped window;
// divisor_override, when not 0, replaces it (PyTorch's avg_pool2d(..., divisor_override)).
struct AvgWindow {
  int64_t h0, h1, w0, w1, divisor;
};

TANDEM_HD AvgWindow avg_window(const PoolGeometry& g, int64_t oh, int64_t ow,
                               bool count_include_pad, int64_t divisor_override = 0) {
  int64_t h0 = oh * g.stride_h - g.pad_h, w0 = ow * g.stride_w - g.pad_w;
  int64_t h1 = hd_min(h0 + g.kernel_h, g.in_h + g.pad_h),
          w1 = hd_min(w0 + g.kernel_w, g.in_w + g.pad_w);
  const int64_t pool_size = (h1 - h0) * (w1 - w0);
  h0 = hd_max(h0, int64_t(0));
  w0 = hd_max(w0, int64_t(0));
  h1 = hd_min(h1, g.in_h);
  w1 = hd_min(w1, g.in_w);
  // An empty window gives 0, as PyTorch's loops skip it (divisor 0: nothing to divide).
  const bool empty = h0 >= h1 || w0 >= w1;
  const int64_t divisor = empty                   ? 0
                          : divisor_override != 0 ? divisor_override
                          : count_include_pad     ? pool_size
                                                  : (h1 - h0) * (w1 - w0);
  return {h0, h1, w0, w1, divisor};
}

// Output (oh, ow) of average pooling over `plane`: the window's sum in row-major order divided by
// the divisor (0 for an empty window).
template <typename T>
TANDEM_HD T avg_pool_window(const T* plane, const PoolGeometry& g, int64_t oh, int64_t ow,
                            bool count_include_pad, int64_t divisor_override = 0) {
  const AvgWindow win = avg_window(g, oh, ow, count_include_pad, divisor_override);
  T sum = T(0);
  for (int64_t h = win.h0; h < win.h1; ++h)
    for (int64_t w = win.w0; w < win.w1; ++w) sum += plane[h * g.in_w + w];
  return win.divisor != 0 ? sum / T(win.divisor) : T(0);
}

// The gradient reaching input (h, w) of a plane through average pooling: the sum, in output
// order, of grad_out / divisor over the outputs whose clipped window holds (h, w).
template <typename T>
TANDEM_HD T avg_pool_grad_at(const T* grad_out, const PoolGeometry& g, bool count_include_pad,
                             int64_t h, int64_t w, int64_t divisor_override = 0) {
  // For an input element, the clipped window holds it exactly when the unclipped one does.
  const IndexRange rh = windows_covering(h, g.pad_h, g.kernel_h, g.stride_h, g.out_h);
  const IndexRange rw = windows_covering(w, g.pad_w, g.kernel_w, g.stride_w, g.out_w);
  T sum = T(0);
  for (int64_t oh = rh.begin; oh < rh.end; ++oh)
    for (int64_t ow = rw.begin; ow < rw.end; ++ow) {
      const AvgWindow win = avg_window(g, oh, ow, count_include_pad, divisor_override);
      if (win.divisor == 0) continue;
      sum += grad_out[oh * g.out_w + ow] / T(win.divisor);
    }
  return sum;
}

// --- adaptive average pooling ------------------------------------------------------------------

// Output a of `out` pools input [adaptive_start, adaptive_end) of `in`.
TANDEM_HD int64_t adaptive_start(int64_t a, int64_t out, int64_t in) { return (a * in) / out; }
TANDEM_HD int64_t adaptive_end(int64_t a, int64_t out, int64_t in) {
  return ((a + 1) * in + out - 1) / out;
}

// The outputs whose adaptive window holds input i: floor(o*in/out) <= i < ceil((o+1)*in/out)
// holds exactly for o in [floor(i*out/in), ceil((i+1)*out/in)), the same rule with in and out
// exchanged.
TANDEM_HD IndexRange adaptive_windows_covering(int64_t i, int64_t out, int64_t in) {
  return {adaptive_start(i, in, out), adaptive_end(i, in, out)};
}

template <typename T>
TANDEM_HD T adaptive_avg_window(const T* plane, const PoolGeometry& g, int64_t oh, int64_t ow) {
  const int64_t h0 = adaptive_start(oh, g.out_h, g.in_h), h1 = adaptive_end(oh, g.out_h, g.in_h);
  const int64_t w0 = adaptive_start(ow, g.out_w, g.in_w), w1 = adaptive_end(ow, g.out_w, g.in_w);
  T sum = T(0);
  for (int64_t h = h0; h < h1; ++h)
    for (int64_t w = w0; w < w1; ++w) sum += plane[h * g.in_w + w];
  return sum / T((h1 - h0) * (w1 - w0));
}

template <typename T>
TANDEM_HD T adaptive_avg_grad_at(const T* grad_out, const PoolGeometry& g, int64_t h, int64_t w) {
  const IndexRange rh = adaptive_windows_covering(h, g.out_h, g.in_h);
  const IndexRange rw = adaptive_windows_covering(w, g.out_w, g.in_w);
  T sum = T(0);
  for (int64_t oh = rh.begin; oh < rh.end; ++oh) {
    const int64_t kh = adaptive_end(oh, g.out_h, g.in_h) - adaptive_start(oh, g.out_h, g.in_h);
    for (int64_t ow = rw.begin; ow < rw.end; ++ow) {
      const int64_t kw = adaptive_end(ow, g.out_w, g.in_w) - adaptive_start(ow, g.out_w, g.in_w);
      sum += grad_out[oh * g.out_w + ow] / T(kh * kw);
    }
  }
  return sum;
}

// --- adaptive max pooling ----------------------------------------------------------------------

// The max of output (oh, ow)'s adaptive window and its plane-flat index, by take_if_max from the
// window's first element (PyTorch starts from -inf with that element's index: the same picks).
template <typename T>
TANDEM_HD void adaptive_max_window(const T* plane, const PoolGeometry& g, int64_t oh, int64_t ow,
                                   T& value, int64_t& index) {
  const int64_t h0 = adaptive_start(oh, g.out_h, g.in_h), h1 = adaptive_end(oh, g.out_h, g.in_h);
  const int64_t w0 = adaptive_start(ow, g.out_w, g.in_w), w1 = adaptive_end(ow, g.out_w, g.in_w);
  T best = plane[h0 * g.in_w + w0];
  int64_t best_i = h0 * g.in_w + w0;
  for (int64_t h = h0; h < h1; ++h)
    for (int64_t w = (h == h0 ? w0 + 1 : w0); w < w1; ++w)
      take_if_max(plane[h * g.in_w + w], h * g.in_w + w, best, best_i);
  value = best;
  index = best_i;
}

// The gradient reaching input (h, w) through adaptive max pooling: as max_pool_grad_at, over the
// outputs whose adaptive window holds (h, w).
template <typename T>
TANDEM_HD T adaptive_max_grad_at(const T* grad_out, const int64_t* indices, const PoolGeometry& g,
                                 int64_t h, int64_t w) {
  const IndexRange rh = adaptive_windows_covering(h, g.out_h, g.in_h);
  const IndexRange rw = adaptive_windows_covering(w, g.out_w, g.in_w);
  return indexed_grad_sum(grad_out, indices, g.out_w, rh, rw, h * g.in_w + w);
}

// --- max unpooling -----------------------------------------------------------------------------
// max_unpool2d inverts a max pooling of geometry g: its input and indices are planes of
// out_h x out_w (the pooled size), its output planes of in_h x in_w. Output element indices[i]
// of a plane receives input i; where several inputs name one element the last (highest i) wins,
// as in PyTorch's CPU loop (its CUDA kernel leaves it to a race). The GPU settles it without a
// race: each input first claims its element with an integer atomic max of i + 1 (the same result
// in any order), then the winner writes.

// The claim of input i on `slot` (zeroed before): slot = max(slot, i + 1).
TANDEM_HD void max_unpool_claim(unsigned long long* slot, int64_t i) {
#if defined(__CUDA_ARCH__)
  atomicMax(slot, static_cast<unsigned long long>(i + 1));
#else
  std::atomic_ref<unsigned long long> s(*slot);
  unsigned long long seen = s.load(std::memory_order_relaxed);
  const auto mine = static_cast<unsigned long long>(i + 1);
  while (seen < mine && !s.compare_exchange_weak(seen, mine, std::memory_order_relaxed)) {
  }
#endif
}

// Gradient of max unpooling: input i's gradient is the output gradient at its index (a gather;
// every input naming an element receives its gradient, as PyTorch's gather does).
template <typename T>
TANDEM_HD T max_unpool_grad_at(const T* grad_out_plane, int64_t index, int64_t plane_size) {
  return index >= 0 && index < plane_size ? grad_out_plane[index] : T(0);
}

}  // namespace tandem::kernels
