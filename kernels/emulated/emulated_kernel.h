// How the emulated CUDA device runs a kernel: the CPU kernel of the same family, called with
// every Buffer and StridedBuffer untagged to its host address and a CPU context. The kernel
// table forbids raw pointers in kernel arguments, so this wrapper sees every address a kernel
// will touch; a host pointer among them is an error here rather than a silent success that
// would crash on a real GPU.
#pragma once

#include <span>
#include <type_traits>
#include <vector>

#include "kernels/dispatch.h"
#include "kernels/emulated/emulated_runtime.h"
#include "kernels/kernel_table.h"

namespace tandem::kernels::emulated {

inline Buffer to_host(const Buffer& b) { return {host_address(b.data), b.dtype}; }
inline StridedBuffer to_host(const StridedBuffer& b) {
  return {host_address(b.data), b.dtype, b.strides};
}
// A list of parameters' buffers, each untagged (a copy: the caller's list is left as it is).
inline std::vector<SgdTensor> to_host(std::span<const SgdTensor> list) {
  std::vector<SgdTensor> host(list.begin(), list.end());
  for (SgdTensor& t : host)
    for (Buffer* b : {&t.param, &t.grad, &t.momentum_buf}) *b = to_host(*b);
  return host;
}
inline std::vector<AdamTensor> to_host(std::span<const AdamTensor> list) {
  std::vector<AdamTensor> host(list.begin(), list.end());
  for (AdamTensor& t : host)
    for (Buffer* b : {&t.param, &t.grad, &t.exp_avg, &t.exp_avg_sq, &t.max_exp_avg_sq})
      *b = to_host(*b);
  return host;
}
template <typename T>
const T& to_host(const T& value) {
  static_assert(!std::is_pointer_v<T>, "kernel arguments must not be raw pointers: use Buffer");
  return value;
}

// Throws unless ctx's device is the calling thread's current device, as a real GPU refuses a
// launch on another device's stream ("invalid resource handle"): code that keeps a context past
// an op on another device fails here, in CI, rather than on the first multi-GPU run.
void check_launch_device(const KernelContext& ctx);

template <auto CpuKernel>
struct EmulatedKernel;

template <typename... Args, void (*CpuKernel)(const KernelContext&, Args...)>
struct EmulatedKernel<CpuKernel> {
  static void run(const KernelContext& ctx, Args... args) {
    check_launch_device(ctx);
    // The emulated device executes synchronously on the calling thread.
    CpuKernel(KernelContext{kCPU, nullptr}, to_host(args)...);
  }
};

}  // namespace tandem::kernels::emulated
