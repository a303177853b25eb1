// CPU gather/scatter along one dim (see index.h).
#include "kernels/cpu/index.h"

#include <cstring>

namespace tandem::kernels::cpu {

void index_select(const void* in, int64_t outer, int64_t n, int64_t inner, const int64_t* index,
                  int64_t n_index, void* out, size_t element_size) {
  const size_t row = size_t(inner) * element_size;
  const char* src = static_cast<const char*>(in);
  char* dst = static_cast<char*>(out);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < n_index; ++i)
      std::memcpy(dst + size_t(o * n_index + i) * row, src + size_t(o * n + index[i]) * row, row);
}

template <typename T>
void index_add(const T* src, int64_t outer, int64_t n_index, int64_t inner, const int64_t* index,
               T* out, int64_t n) {
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < n_index; ++i) {
      const T* s = src + (o * n_index + i) * inner;
      T* d = out + (o * n + index[i]) * inner;
      for (int64_t j = 0; j < inner; ++j) d[j] += s[j];
    }
}

template <typename T>
void scatter_along(const T* src, const int64_t* index, int64_t outer, int64_t n, int64_t inner,
                   T* out) {
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < inner; ++j)
      out[(o * n + index[o * inner + j]) * inner + j] = src[o * inner + j];
}

template void index_add<float>(const float*, int64_t, int64_t, int64_t, const int64_t*, float*,
                               int64_t);
template void index_add<double>(const double*, int64_t, int64_t, int64_t, const int64_t*, double*,
                                int64_t);
template void scatter_along<float>(const float*, const int64_t*, int64_t, int64_t, int64_t, float*);
template void scatter_along<double>(const double*, const int64_t*, int64_t, int64_t, int64_t,
                                    double*);

}  // namespace tandem::kernels::cpu
