// How the emulated CUDA device runs a kernel: the CPU kernel of the same family, called with
// every Buffer and StridedBuffer untagged to its host address and a CPU context. The kernel
// table forbids raw pointers in kernel arguments, so this wrapper sees every address a kernel
// will touch; a host pointer among them is an error here rather than a silent success that
// would crash on a real GPU.
#pragma once

#include <type_traits>

#include "kernels/dispatch.h"
#include "kernels/emulated/emulated_runtime.h"

namespace tandem::kernels::emulated {

inline Buffer to_host(const Buffer& b) { return {host_address(b.data), b.dtype}; }
inline StridedBuffer to_host(const StridedBuffer& b) {
  return {host_address(b.data), b.dtype, b.strides};
}
template <typename T>
const T& to_host(const T& value) {
  static_assert(!std::is_pointer_v<T>, "kernel arguments must not be raw pointers: use Buffer");
  return value;
}

template <auto CpuKernel>
struct EmulatedKernel;

template <typename... Args, void (*CpuKernel)(const KernelContext&, Args...)>
struct EmulatedKernel<CpuKernel> {
  static void run(const KernelContext& ctx, Args... args) {
    (void)ctx;  // the emulated device executes synchronously on the calling thread
    CpuKernel(KernelContext{kCPU, nullptr}, to_host(args)...);
  }
};

}  // namespace tandem::kernels::emulated
