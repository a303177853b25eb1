// How the emulated CUDA device runs a kernel: the CPU kernel of the same family, called with
// every Buffer and StridedBuffer untagged to its host address and a CPU context. The kernel
// table forbids raw pointers in kernel arguments, so this wrapper sees every address a kernel
// will touch; a host pointer among them is an error here rather than a silent success that
// would crash on a real GPU.
#pragma once

#include <span>
#include <tuple>
#include <type_traits>
#include <vector>

#include "kernels/cpu/threads.h"
#include "kernels/dispatch.h"
#include "kernels/emulated/emulated_runtime.h"
#include "kernels/kernel_table.h"

namespace tandem::kernels::emulated {

inline Buffer to_host(const Buffer& b) { return {host_address(b.data), b.dtype}; }
inline StridedBuffer to_host(const StridedBuffer& b) {
  return {host_address(b.data), b.dtype, b.strides};
}
// A list of tensors' buffers (kernel_table.h's SgdTensor, AdamTensor, UnscaleTensor: each names
// its Buffers in buffers()), each untagged in a copy of the list.
template <typename Entry>
requires requires(Entry e) { e.buffers(); }
std::vector<Entry> to_host(std::span<const Entry> list) {
  std::vector<Entry> host(list.begin(), list.end());
  for (Entry& t : host)
    for (Buffer* b : t.buffers()) *b = to_host(*b);
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
    if (!streams_are_async()) {  // at once, on the calling thread
      CpuKernel(KernelContext{kCPU, nullptr}, to_host(args)...);
      return;
    }
    // On the stream's thread, later: the arguments are copied now (as CUDA copies a kernel's
    // parameters at the launch), lists included, so the caller may reuse its own at once.
    enqueue(ctx.stream,
            [threads = cpu::openmp_threads_here(),
             host_args = std::make_tuple(std::decay_t<decltype(to_host(args))>(to_host(args))...)] {
              cpu::set_openmp_threads_here(threads);
              std::apply(
                  [](const auto&... a) {
                    CpuKernel(KernelContext{kCPU, nullptr}, a...);
                  },
                  host_args);
            });
  }
};

}  // namespace tandem::kernels::emulated
