// CPU gather/scatter along the middle dim of a contiguous (outer, n, inner) block: index_select
// and its backward (index_add), and the scatter that routes max(dim)'s gradient to its indices.
// index_select throws on an index outside the dim before it copies anything
// (kernels/common/bad_index.h); index_add skips one.
#include "kernels/common/bad_index.h"
#include "kernels/cpu/register.h"

#include <cstring>

namespace tandem::kernels::cpu {

void index_select(const void* in, int64_t outer, int64_t n, int64_t inner, const int64_t* index,
                  int64_t n_index, void* out, size_t element_size) {
  const size_t row = size_t(inner) * element_size;
  const char* src = static_cast<const char*>(in);
  char* dst = static_cast<char*>(out);
  for (int64_t i = 0; i < n_index; ++i)
    if (!index_in_range(index[i], n)) report_bad_index(nullptr, BadIndexKind::Index, index[i], n);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < n_index; ++i)
      std::memcpy(dst + size_t(o * n_index + i) * row, src + size_t(o * n + index[i]) * row, row);
}

template <typename T>
void index_add(const T* src, int64_t outer, int64_t n_index, int64_t inner, const int64_t* index,
               T* out, int64_t n) {
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < n_index; ++i) {
      if (!index_in_range(index[i], n)) continue;  // reported by the forward's index_select
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

void index_select_cpu(const KernelContext&, const Slab& s, const Buffer& in, const Buffer& index,
                      int64_t n_index, const Buffer& out) {
  index_select(in.data, s.outer, s.n, s.inner, index.as<const int64_t>(), n_index, out.data,
               element_size(in.dtype));
}

void index_add_cpu(const KernelContext&, const Slab& s, const Buffer& src, const Buffer& index,
                   int64_t n_index, const Buffer& out) {
  dispatch_floating(src.dtype, "index_add", [&](auto tag) {
    using T = typename decltype(tag)::type;
    index_add<T>(src.as<const T>(), s.outer, n_index, s.inner, index.as<const int64_t>(),
                 out.as<T>(), s.n);
  });
}

void scatter_along_cpu(const KernelContext&, const Slab& s, const Buffer& src, const Buffer& index,
                       const Buffer& out) {
  dispatch_floating(src.dtype, "scatter", [&](auto tag) {
    using T = typename decltype(tag)::type;
    scatter_along<T>(src.as<const T>(), index.as<const int64_t>(), s.outer, s.n, s.inner,
                     out.as<T>());
  });
}

TANDEM_REGISTER_CPU_KERNEL(index_select, index_select_cpu);
TANDEM_REGISTER_CPU_KERNEL(index_add, index_add_cpu);
TANDEM_REGISTER_CPU_KERNEL(scatter_along, scatter_along_cpu);

}  // namespace tandem::kernels::cpu
