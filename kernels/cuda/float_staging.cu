// FloatStaging on CUDA (see float_staging.h): conversion kernels between the half types and
// float32 (kernels/common/convert.h's rounding), blocks from the device caching allocator.
#include "kernels/cuda/float_staging.h"

#include "kernels/common/convert.h"
#include "kernels/common/dtype.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/launch.cuh"
#include "kernels/device/caching_allocator.h"

namespace tandem::kernels::cuda {
namespace {

template <typename S, typename D>
__global__ void convert_kernel(const S* in, D* out, int64_t n) {
  const int64_t i = thread_index();
  if (i < n) out[i] = convert_element<S, D>(in[i]);
}

template <typename S, typename D>
void convert(const KernelContext& ctx, const void* in, void* out, int64_t n) {
  if (n == 0) return;
  TANDEM_LAUNCH(blocks_for(n), kThreads, 0, stream_of(ctx), convert_kernel)
  (static_cast<const S*>(in), static_cast<D*>(out), n);
  TANDEM_CUDA_CHECK(cudaGetLastError());
}

void widen(const KernelContext& ctx, const Buffer& half, void* out, int64_t n) {
  if (half.dtype == DType::Float16)
    convert<Half, float>(ctx, half.data, out, n);
  else
    convert<BFloat16, float>(ctx, half.data, out, n);
}

void round_into(const KernelContext& ctx, const void* in, const Buffer& half, int64_t n) {
  if (half.dtype == DType::Float16)
    convert<float, Half>(ctx, in, half.data, n);
  else
    convert<float, BFloat16>(ctx, in, half.data, n);
}

}  // namespace

FloatStaging::~FloatStaging() {
  for (void* block : blocks_) device::device_allocator().free(block);
}

void* FloatStaging::stage(int64_t n) {
  blocks_.reserve(blocks_.size() + 1);
  void* block = device::device_allocator().allocate(size_t(n > 0 ? n : 1) * sizeof(float),
                                                    ctx_.device.index, ctx_.stream);
  blocks_.push_back(block);
  return block;
}

Buffer FloatStaging::input(const Buffer& b, int64_t n) {
  if (!b.defined() || !is_half(b.dtype)) return b;
  void* block = stage(n);
  widen(ctx_, b, block, n);
  return Buffer{block, DType::Float32};
}

Buffer FloatStaging::output(const Buffer& b, int64_t n, bool accumulates) {
  if (!b.defined() || !is_half(b.dtype)) return b;
  void* block = stage(n);
  if (accumulates) widen(ctx_, b, block, n);
  outputs_.push_back({b, block, n});
  return Buffer{block, DType::Float32};
}

void FloatStaging::finish() {
  for (const Staged& s : outputs_) round_into(ctx_, s.block, s.half, s.n);
  outputs_.clear();
}

}  // namespace tandem::kernels::cuda
