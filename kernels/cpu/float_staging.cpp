// FloatStaging (see float_staging.h): widening and rounding between the half types and float32.
#include "kernels/cpu/float_staging.h"

#include "kernels/common/convert.h"
#include "kernels/common/dtype.h"
#include "kernels/cpu/caching_allocator.h"

namespace tandem::kernels::cpu {
namespace {

template <typename S, typename D>
void convert_n(const void* in, void* out, int64_t n) {
  const S* s = static_cast<const S*>(in);
  D* d = static_cast<D*>(out);
  for (int64_t i = 0; i < n; ++i) d[i] = convert_element<S, D>(s[i]);
}

void widen(const Buffer& half, void* out, int64_t n) {
  if (half.dtype == DType::Float16)
    convert_n<Half, float>(half.data, out, n);
  else
    convert_n<BFloat16, float>(half.data, out, n);
}

void round_into(const void* in, const Buffer& half, int64_t n) {
  if (half.dtype == DType::Float16)
    convert_n<float, Half>(in, half.data, n);
  else
    convert_n<float, BFloat16>(in, half.data, n);
}

}  // namespace

FloatStaging::~FloatStaging() {
  for (void* block : blocks_) cpu_allocator().free(block);
}

void* FloatStaging::stage(int64_t n) {
  blocks_.reserve(blocks_.size() + 1);  // so push_back cannot throw after allocate succeeded
  void* block = cpu_allocator().allocate(size_t(n) * sizeof(float));
  blocks_.push_back(block);
  return block;
}

Buffer FloatStaging::input(const Buffer& b, int64_t n) {
  if (!b.defined() || !is_half(b.dtype)) return b;
  void* block = stage(n);
  widen(b, block, n);
  return Buffer{block, DType::Float32};
}

Buffer FloatStaging::output(const Buffer& b, int64_t n, bool accumulates) {
  if (!b.defined() || !is_half(b.dtype)) return b;
  void* block = stage(n);
  if (accumulates) widen(b, block, n);
  outputs_.push_back({b, block, n});
  return Buffer{block, DType::Float32};
}

void FloatStaging::finish() {
  for (const Staged& s : outputs_) round_into(s.block, s.half, s.n);
  outputs_.clear();
}

}  // namespace tandem::kernels::cpu
