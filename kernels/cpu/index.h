// CPU gather/scatter along the middle dim of a contiguous (outer, n, inner) block: index_select
// and its backward (index_add), and the scatter that routes max(dim)'s gradient to its indices.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tandem::kernels::cpu {

// out[o, i, j] = in[o, index[i], j] for i < n_index; any element type (copied as bytes).
// Indices must already be checked to lie in [0, n).
void index_select(const void* in, int64_t outer, int64_t n, int64_t inner, const int64_t* index,
                  int64_t n_index, void* out, size_t element_size);

// out[o, index[i], j] += src[o, i, j]; out has n rows along the middle dim. T: float or double.
template <typename T>
void index_add(const T* src, int64_t outer, int64_t n_index, int64_t inner, const int64_t* index,
               T* out, int64_t n);

// out[o, index[o, j], j] = src[o, j] (out zeroed by the caller). T: float or double.
template <typename T>
void scatter_along(const T* src, const int64_t* index, int64_t outer, int64_t n, int64_t inner,
                   T* out);

}  // namespace tandem::kernels::cpu
