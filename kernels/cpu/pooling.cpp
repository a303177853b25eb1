// CPU pooling kernels, as PyTorch's; the per-window arithmetic (window bounds, divisors, the
// max-update rule, adaptive start/end) is kernels/common/pool_functors.h, shared with the CUDA
// kernels. Backward kernels scatter each output's gradient into its window, accumulating into
// grad_in; max unpooling's backward is a gather.
#include <atomic>

#include "kernels/common/bad_index.h"
#include "kernels/common/pool_functors.h"
#include "kernels/cpu/float_staging.h"
#include "kernels/cpu/parallel_for.h"
#include "kernels/cpu/register.h"

namespace tandem::kernels::cpu {

namespace {

// max_pool2d of one plane where every window lies inside the input (no padding, no dilation, no
// window past the edge), the common case: no bounds tests per element.
template <typename T>
void max_pool2d_interior_plane(const T* src, const PoolGeometry& g, T* dst, int64_t* idx) {
  // Geometry in locals: the stores to dst/idx could alias g, which would force a reload of
  // every field per element.
  const int64_t in_w = g.in_w, out_h = g.out_h, out_w = g.out_w;
  const int64_t sh = g.stride_h, sw = g.stride_w, kh_n = g.kernel_h, kw_n = g.kernel_w;
  if (kh_n == 2 && kw_n == 2 && sh == 2 && sw == 2) {
    // The common 2x2 window of stride 2, written out so the compiler can vectorise along a row.
    for (int64_t oh = 0; oh < out_h; ++oh) {
      const T* r0 = src + 2 * oh * in_w;
      const T* r1 = r0 + in_w;
      T* d = dst + oh * out_w;
      int64_t* di = idx + oh * out_w;
      const int64_t base = 2 * oh * in_w;
      for (int64_t ow = 0; ow < out_w; ++ow) {
        const int64_t i0 = base + 2 * ow;
        T best = r0[2 * ow];
        int64_t best_i = i0;
        take_if_max(r0[2 * ow + 1], i0 + 1, best, best_i);
        take_if_max(r1[2 * ow], i0 + in_w, best, best_i);
        take_if_max(r1[2 * ow + 1], i0 + in_w + 1, best, best_i);
        d[ow] = best;
        di[ow] = best_i;
      }
    }
    return;
  }
  for (int64_t oh = 0; oh < out_h; ++oh)
    for (int64_t ow = 0; ow < out_w; ++ow) {
      const int64_t start = oh * sh * in_w + ow * sw;
      T best = src[start];
      int64_t best_i = start;
      for (int64_t kh = 0; kh < kh_n; ++kh) {
        const int64_t row = start + kh * in_w;
        for (int64_t kw = kh == 0 ? 1 : 0; kw < kw_n; ++kw)
          take_if_max(src[row + kw], row + kw, best, best_i);
      }
      dst[oh * out_w + ow] = best;
      idx[oh * out_w + ow] = best_i;
    }
}

// Planes run in parallel (parallel_for.h): each writes its own outputs (and, backward, its own
// plane of grad_in), so any thread count gives the same bits.
int64_t plane_work(const PoolGeometry& g) { return g.in_h * g.in_w + g.out_h * g.out_w; }

}  // namespace

template <typename T>
void max_pool2d(const T* in, const PoolGeometry& g, T* out, int64_t* indices) {
  // Every window inside the input? (ceil_mode's last window may reach past the edge.)
  const bool interior = g.pad_h == 0 && g.pad_w == 0 && g.dilation_h == 1 && g.dilation_w == 1 &&
                        (g.out_h - 1) * g.stride_h + g.kernel_h <= g.in_h &&
                        (g.out_w - 1) * g.stride_w + g.kernel_w <= g.in_w;
  if (interior) {
    const int64_t in_plane = g.in_h * g.in_w, out_plane = g.out_h * g.out_w;
    return parallel_for_each(g.planes, plane_work(g), [&](int64_t p) {
      max_pool2d_interior_plane(in + p * in_plane, g, out + p * out_plane, indices + p * out_plane);
    });
  }
  parallel_for_each(g.planes, plane_work(g), [&](int64_t p) {
    const T* src = in + p * g.in_h * g.in_w;
    for (int64_t oh = 0; oh < g.out_h; ++oh)
      for (int64_t ow = 0; ow < g.out_w; ++ow) {
        const int64_t o = (p * g.out_h + oh) * g.out_w + ow;
        max_pool_window(src, g, oh, ow, out[o], indices[o]);
      }
  });
}

template <typename T>
void max_pool2d_backward(const T* grad_out, const int64_t* indices, const PoolGeometry& g,
                         T* grad_in) {
  parallel_for_each(g.planes, plane_work(g), [&](int64_t p) {
    T* dst = grad_in + p * g.in_h * g.in_w;
    const int64_t base = p * g.out_h * g.out_w;
    for (int64_t i = 0; i < g.out_h * g.out_w; ++i)
      if (indices[base + i] >= 0) dst[indices[base + i]] += grad_out[base + i];
  });
}

template <typename T>
void avg_pool2d(const T* in, const PoolGeometry& g, bool count_include_pad,
                int64_t divisor_override, T* out) {
  parallel_for_each(g.planes, plane_work(g), [&](int64_t p) {
    const T* src = in + p * g.in_h * g.in_w;
    for (int64_t oh = 0; oh < g.out_h; ++oh)
      for (int64_t ow = 0; ow < g.out_w; ++ow) {
        out[(p * g.out_h + oh) * g.out_w + ow] =
            avg_pool_window(src, g, oh, ow, count_include_pad, divisor_override);
      }
  });
}

template <typename T>
void avg_pool2d_backward(const T* grad_out, const PoolGeometry& g, bool count_include_pad,
                         int64_t divisor_override, T* grad_in) {
  parallel_for_each(g.planes, plane_work(g), [&](int64_t p) {
    T* dst = grad_in + p * g.in_h * g.in_w;
    for (int64_t oh = 0; oh < g.out_h; ++oh)
      for (int64_t ow = 0; ow < g.out_w; ++ow) {
        const AvgWindow win = avg_window(g, oh, ow, count_include_pad, divisor_override);
        if (win.divisor == 0) continue;
        const T v = grad_out[(p * g.out_h + oh) * g.out_w + ow] / T(win.divisor);
        for (int64_t h = win.h0; h < win.h1; ++h)
          for (int64_t w = win.w0; w < win.w1; ++w) dst[h * g.in_w + w] += v;
      }
  });
}

template <typename T>
void adaptive_avg_pool2d(const T* in, const PoolGeometry& g, T* out) {
  parallel_for_each(g.planes, plane_work(g), [&](int64_t p) {
    const T* src = in + p * g.in_h * g.in_w;
    for (int64_t oh = 0; oh < g.out_h; ++oh)
      for (int64_t ow = 0; ow < g.out_w; ++ow)
        out[(p * g.out_h + oh) * g.out_w + ow] = adaptive_avg_window(src, g, oh, ow);
  });
}

template <typename T>
void adaptive_avg_pool2d_backward(const T* grad_out, const PoolGeometry& g, T* grad_in) {
  parallel_for_each(g.planes, plane_work(g), [&](int64_t p) {
    T* dst = grad_in + p * g.in_h * g.in_w;
    for (int64_t oh = 0; oh < g.out_h; ++oh) {
      const int64_t h0 = adaptive_start(oh, g.out_h, g.in_h),
                    h1 = adaptive_end(oh, g.out_h, g.in_h);
      for (int64_t ow = 0; ow < g.out_w; ++ow) {
        const int64_t w0 = adaptive_start(ow, g.out_w, g.in_w),
                      w1 = adaptive_end(ow, g.out_w, g.in_w);
        const T v = grad_out[(p * g.out_h + oh) * g.out_w + ow] / T((h1 - h0) * (w1 - w0));
        for (int64_t h = h0; h < h1; ++h)
          for (int64_t w = w0; w < w1; ++w) dst[h * g.in_w + w] += v;
      }
    }
  });
}

template <typename T>
void adaptive_max_pool2d(const T* in, const PoolGeometry& g, T* out, int64_t* indices) {
  parallel_for_each(g.planes, plane_work(g), [&](int64_t p) {
    const T* src = in + p * g.in_h * g.in_w;
    for (int64_t oh = 0; oh < g.out_h; ++oh)
      for (int64_t ow = 0; ow < g.out_w; ++ow) {
        const int64_t o = (p * g.out_h + oh) * g.out_w + ow;
        adaptive_max_window(src, g, oh, ow, out[o], indices[o]);
      }
  });
}

// Max unpooling of planes of out_h x out_w into planes of in_h x in_w (pool_functors.h): out is
// zeroed by the caller; the last input naming an element wins. A bad index throws PyTorch's
// error once the planes are done (kernels/common/bad_index.h).
template <typename T>
void max_unpool2d(const T* in, const int64_t* indices, const PoolGeometry& g, T* out) {
  const int64_t in_plane = g.out_h * g.out_w, out_plane = g.in_h * g.in_w;
  // PyTorch names the last bad index of its serial loop: the highest i, whatever the threads.
  std::atomic<int64_t> last_bad{-1};
  parallel_for_each(g.planes, plane_work(g), [&](int64_t p) {
    T* dst = out + p * out_plane;
    for (int64_t i = p * in_plane; i < (p + 1) * in_plane; ++i) {
      const int64_t k = indices[i];
      if (index_in_range(k, out_plane)) {
        dst[k] = in[i];
        continue;
      }
      int64_t seen = last_bad.load();
      while (seen < i && !last_bad.compare_exchange_weak(seen, i)) {
      }
    }
  });
  if (last_bad >= 0)
    report_bad_index(nullptr, BadIndexKind::MaxUnpool, indices[last_bad],
                     unpool_plane(g.in_h, g.in_w));
}

template <typename T>
void max_unpool2d_backward(const T* grad_out, const int64_t* indices, const PoolGeometry& g,
                           T* grad_in) {
  const int64_t in_plane = g.out_h * g.out_w, out_plane = g.in_h * g.in_w;
  parallel_for_each(g.planes, plane_work(g), [&](int64_t p) {
    for (int64_t i = p * in_plane; i < (p + 1) * in_plane; ++i)
      grad_in[i] = max_unpool_grad_at(grad_out + p * out_plane, indices[i], out_plane);
  });
}

namespace {
int64_t in_numel(const PoolGeometry& g) { return g.planes * g.in_h * g.in_w; }
int64_t out_numel(const PoolGeometry& g) { return g.planes * g.out_h * g.out_w; }
}  // namespace

// float16/bfloat16 operands run the float kernels through FloatStaging (exact for max pooling,
// one rounding of the float result for the averages).

void max_pool2d_forward_cpu(const KernelContext& ctx, const PoolGeometry& g, const Buffer& in,
                            const Buffer& out, const Buffer& indices) {
  if (is_half(in.dtype)) {
    FloatStaging f;
    max_pool2d_forward_cpu(ctx, g, f.input(in, in_numel(g)), f.output(out, out_numel(g)), indices);
    return f.finish();
  }
  dispatch_floating(in.dtype, "max_pool2d", [&](auto tag) {
    using T = typename decltype(tag)::type;
    max_pool2d<T>(in.as<const T>(), g, out.as<T>(), indices.as<int64_t>());
  });
}

void max_pool2d_backward_cpu(const KernelContext& ctx, const PoolGeometry& g,
                             const Buffer& grad_out, const Buffer& indices, const Buffer& grad_in) {
  if (is_half(grad_out.dtype)) {
    FloatStaging f;
    max_pool2d_backward_cpu(ctx, g, f.input(grad_out, out_numel(g)), indices,
                            f.output(grad_in, in_numel(g), /*accumulates=*/true));
    return f.finish();
  }
  dispatch_floating(grad_out.dtype, "max_pool2d_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    max_pool2d_backward<T>(grad_out.as<const T>(), indices.as<const int64_t>(), g, grad_in.as<T>());
  });
}

void avg_pool2d_forward_cpu(const KernelContext& ctx, const PoolGeometry& g, bool count_include_pad,
                            int64_t divisor_override, const Buffer& in, const Buffer& out) {
  if (is_half(in.dtype)) {
    FloatStaging f;
    avg_pool2d_forward_cpu(ctx, g, count_include_pad, divisor_override, f.input(in, in_numel(g)),
                           f.output(out, out_numel(g)));
    return f.finish();
  }
  dispatch_floating(in.dtype, "avg_pool2d", [&](auto tag) {
    using T = typename decltype(tag)::type;
    avg_pool2d<T>(in.as<const T>(), g, count_include_pad, divisor_override, out.as<T>());
  });
}

void avg_pool2d_backward_cpu(const KernelContext& ctx, const PoolGeometry& g,
                             bool count_include_pad, int64_t divisor_override,
                             const Buffer& grad_out, const Buffer& grad_in) {
  if (is_half(grad_out.dtype)) {
    FloatStaging f;
    avg_pool2d_backward_cpu(ctx, g, count_include_pad, divisor_override,
                            f.input(grad_out, out_numel(g)),
                            f.output(grad_in, in_numel(g), /*accumulates=*/true));
    return f.finish();
  }
  dispatch_floating(grad_out.dtype, "avg_pool2d_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    avg_pool2d_backward<T>(grad_out.as<const T>(), g, count_include_pad, divisor_override,
                           grad_in.as<T>());
  });
}

void adaptive_avg_pool2d_forward_cpu(const KernelContext& ctx, const PoolGeometry& g,
                                     const Buffer& in, const Buffer& out) {
  if (is_half(in.dtype)) {
    FloatStaging f;
    adaptive_avg_pool2d_forward_cpu(ctx, g, f.input(in, in_numel(g)), f.output(out, out_numel(g)));
    return f.finish();
  }
  dispatch_floating(in.dtype, "adaptive_avg_pool2d", [&](auto tag) {
    using T = typename decltype(tag)::type;
    adaptive_avg_pool2d<T>(in.as<const T>(), g, out.as<T>());
  });
}

void adaptive_avg_pool2d_backward_cpu(const KernelContext& ctx, const PoolGeometry& g,
                                      const Buffer& grad_out, const Buffer& grad_in) {
  if (is_half(grad_out.dtype)) {
    FloatStaging f;
    adaptive_avg_pool2d_backward_cpu(ctx, g, f.input(grad_out, out_numel(g)),
                                     f.output(grad_in, in_numel(g), /*accumulates=*/true));
    return f.finish();
  }
  dispatch_floating(grad_out.dtype, "adaptive_avg_pool2d_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    adaptive_avg_pool2d_backward<T>(grad_out.as<const T>(), g, grad_in.as<T>());
  });
}

void adaptive_max_pool2d_forward_cpu(const KernelContext& ctx, const PoolGeometry& g,
                                     const Buffer& in, const Buffer& out, const Buffer& indices) {
  if (is_half(in.dtype)) {
    FloatStaging f;
    adaptive_max_pool2d_forward_cpu(ctx, g, f.input(in, in_numel(g)), f.output(out, out_numel(g)),
                                    indices);
    return f.finish();
  }
  dispatch_floating(in.dtype, "adaptive_max_pool2d", [&](auto tag) {
    using T = typename decltype(tag)::type;
    adaptive_max_pool2d<T>(in.as<const T>(), g, out.as<T>(), indices.as<int64_t>());
  });
}

// The scatter by recorded indices is max_pool2d's: only the windows differ, and they are not
// needed to scatter.
void adaptive_max_pool2d_backward_cpu(const KernelContext& ctx, const PoolGeometry& g,
                                      const Buffer& grad_out, const Buffer& indices,
                                      const Buffer& grad_in) {
  max_pool2d_backward_cpu(ctx, g, grad_out, indices, grad_in);
}

void max_unpool2d_forward_cpu(const KernelContext& ctx, const PoolGeometry& g, const Buffer& in,
                              const Buffer& indices, const Buffer& out) {
  if (is_half(in.dtype)) {
    FloatStaging f;
    max_unpool2d_forward_cpu(ctx, g, f.input(in, out_numel(g)), indices,
                             f.output(out, in_numel(g), /*accumulates=*/true));
    return f.finish();
  }
  dispatch_floating(in.dtype, "max_unpool2d", [&](auto tag) {
    using T = typename decltype(tag)::type;
    max_unpool2d<T>(in.as<const T>(), indices.as<const int64_t>(), g, out.as<T>());
  });
}

void max_unpool2d_backward_cpu(const KernelContext& ctx, const PoolGeometry& g,
                               const Buffer& grad_out, const Buffer& indices,
                               const Buffer& grad_in) {
  if (is_half(grad_out.dtype)) {
    FloatStaging f;
    max_unpool2d_backward_cpu(ctx, g, f.input(grad_out, in_numel(g)), indices,
                              f.output(grad_in, out_numel(g)));
    return f.finish();
  }
  dispatch_floating(grad_out.dtype, "max_unpool2d_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    max_unpool2d_backward<T>(grad_out.as<const T>(), indices.as<const int64_t>(), g,
                             grad_in.as<T>());
  });
}

TANDEM_REGISTER_CPU_KERNEL(max_pool2d_forward, max_pool2d_forward_cpu);
TANDEM_REGISTER_CPU_KERNEL(max_pool2d_backward, max_pool2d_backward_cpu);
TANDEM_REGISTER_CPU_KERNEL(avg_pool2d_forward, avg_pool2d_forward_cpu);
TANDEM_REGISTER_CPU_KERNEL(avg_pool2d_backward, avg_pool2d_backward_cpu);
TANDEM_REGISTER_CPU_KERNEL(adaptive_avg_pool2d_forward, adaptive_avg_pool2d_forward_cpu);
TANDEM_REGISTER_CPU_KERNEL(adaptive_avg_pool2d_backward, adaptive_avg_pool2d_backward_cpu);
TANDEM_REGISTER_CPU_KERNEL(adaptive_max_pool2d_forward, adaptive_max_pool2d_forward_cpu);
TANDEM_REGISTER_CPU_KERNEL(adaptive_max_pool2d_backward, adaptive_max_pool2d_backward_cpu);
TANDEM_REGISTER_CPU_KERNEL(max_unpool2d_forward, max_unpool2d_forward_cpu);
TANDEM_REGISTER_CPU_KERNEL(max_unpool2d_backward, max_unpool2d_backward_cpu);

}  // namespace tandem::kernels::cpu
