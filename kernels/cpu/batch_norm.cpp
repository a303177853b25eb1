// Batch normalisation kernels (see batch_norm.h).
#include "kernels/cpu/batch_norm.h"

namespace tandem::kernels::cpu {

template <typename T>
void batch_norm_stats(const T* x, int64_t N, int64_t C, int64_t S, double* mean, double* var) {
  const double n = double(N * S);
  for (int64_t c = 0; c < C; ++c) {
    double sum = 0;
    for (int64_t i = 0; i < N; ++i) {
      const T* p = x + (i * C + c) * S;
      for (int64_t s = 0; s < S; ++s) sum += double(p[s]);
    }
    const double m = sum / n;
    double sq = 0;
    for (int64_t i = 0; i < N; ++i) {
      const T* p = x + (i * C + c) * S;
      for (int64_t s = 0; s < S; ++s) {
        const double d = double(p[s]) - m;
        sq += d * d;
      }
    }
    mean[c] = m;
    var[c] = sq / n;
  }
}

template <typename T>
void batch_norm_apply(const T* x, int64_t N, int64_t C, int64_t S, const double* mean,
                      const double* invstd, const T* w, const T* b, T* y) {
  for (int64_t c = 0; c < C; ++c) {
    // y = x * scale + shift, with scale/shift folded per channel.
    const T scale = T(invstd[c] * (w ? double(w[c]) : 1.0));
    const T shift = T((b ? double(b[c]) : 0.0) - mean[c] * invstd[c] * (w ? double(w[c]) : 1.0));
    for (int64_t i = 0; i < N; ++i) {
      const T* p = x + (i * C + c) * S;
      T* q = y + (i * C + c) * S;
      for (int64_t s = 0; s < S; ++s) q[s] = p[s] * scale + shift;
    }
  }
}

template <typename T>
void batch_norm_backward(const T* x, const T* gy, int64_t N, int64_t C, int64_t S,
                         const double* mean, const double* invstd, const T* w, bool train, T* gx,
                         double* sum_gy, double* sum_gy_xhat) {
  const double n = double(N * S);
  for (int64_t c = 0; c < C; ++c) {
    double sg = 0, sgx = 0;
    for (int64_t i = 0; i < N; ++i) {
      const T* xp = x + (i * C + c) * S;
      const T* gp = gy + (i * C + c) * S;
      for (int64_t s = 0; s < S; ++s) {
        sg += double(gp[s]);
        sgx += double(gp[s]) * (double(xp[s]) - mean[c]) * invstd[c];
      }
    }
    sum_gy[c] = sg;
    sum_gy_xhat[c] = sgx;
    if (!gx) continue;
    const double wc = w ? double(w[c]) : 1.0;
    for (int64_t i = 0; i < N; ++i) {
      const T* xp = x + (i * C + c) * S;
      const T* gp = gy + (i * C + c) * S;
      T* out = gx + (i * C + c) * S;
      for (int64_t s = 0; s < S; ++s) {
        if (train) {
          const double xhat = (double(xp[s]) - mean[c]) * invstd[c];
          out[s] = T(wc * invstd[c] / n * (n * double(gp[s]) - sg - xhat * sgx));
        } else {
          out[s] = T(double(gp[s]) * wc * invstd[c]);
        }
      }
    }
  }
}

#define INSTANTIATE(T)                                                                            \
  template void batch_norm_stats<T>(const T*, int64_t, int64_t, int64_t, double*, double*);       \
  template void batch_norm_apply<T>(const T*, int64_t, int64_t, int64_t, const double*,           \
                                    const double*, const T*, const T*, T*);                       \
  template void batch_norm_backward<T>(const T*, const T*, int64_t, int64_t, int64_t,             \
                                       const double*, const double*, const T*, bool, T*, double*, \
                                       double*);
INSTANTIATE(float)
INSTANTIATE(double)

}  // namespace tandem::kernels::cpu
