// Runs tandem's CUDA kernels (kernels/cuda/*.cu) on the CPU, so that CI, which has no GPU, tests
// the kernels' own code: their indexing, launch geometry, block reductions and warp shuffles.
// Each kernel file is compiled as host C++ (a generated file includes this header, renames the
// `cuda` namespace and includes the .cu), with:
//   - TANDEM_LAUNCH running the grid block after block; a block's threads are fibers on the
//     calling thread, switched at __syncthreads() and at each warp shuffle, so a block's threads
//     meet at its barriers as on a GPU;
//   - threadIdx, blockIdx, blockDim and gridDim the running fiber's, __shared__ memory shared by
//     the fibers of a block, and dynamic_shared<T>() the launch's dynamic shared memory;
//   - TANDEM_REGISTER_CUDA_KERNEL installing each launcher on the emulated CUDA device in place
//     of the CPU kernel (install_cuda_kernels_on_host()), so the device suites run through it.
//   - a bad index recorded in a BadIndexReport by the kernels' own code (kernels/common/
//     bad_index.h: the host runs the device's logic with std::atomic_ref), the element skipped,
//     and the error thrown after the launch.
// Not covered: the lines under __CUDA_ARCH__ (the report's system-scope atomics, __dmul_rn),
// cuBLASLt, cuDNN and NCCL, and anything about real memory or timing (compute-sanitizer's job on
// a GPU). Scratch memory the kernels take from the caching allocator (device::device_allocator())
// is host memory here.
// Races are found only as far as an order shows them: blocks run last to first and a kernel's
// threads after thread 0 last to first, so a missing barrier or an assumed order usually fails,
// but threads never truly overlap, and barriers and shuffles share one scheduling round (no
// current kernel mixes them with warps that diverge).
#pragma once

#define TANDEM_CUDA_ON_HOST 1

// Installs `fn` as the emulated device's kernel of `family` when install_cuda_kernels_on_host()
// runs (after static initialisation, so after the CPU kernels registered themselves there).
// kernels/dispatch.h keeps this definition when included after this header.
#undef TANDEM_REGISTER_CUDA_KERNEL
#define TANDEM_REGISTER_CUDA_KERNEL(family, fn)                                             \
  [[maybe_unused]] static const bool TANDEM_KERNEL_CONCAT(tandem_cuda_on_host_, __LINE__) = \
      (::tandem::cuda_on_host::defer_installation([] {                                      \
         ::tandem::kernels::register_kernel(                                                \
             ::tandem::kernels::family, ::tandem::kernels::Backend::EmulatedCUDA,           \
             &::tandem::kernels::emulated::EmulatedKernel<                                  \
                 &::tandem::cuda_on_host::CountedLauncher<&::tandem::kernels::family,       \
                                                          &fn>::run>::run);                 \
         ::tandem::cuda_on_host::note_installed(::tandem::kernels::family.name());          \
       }),                                                                                  \
       true)

#define __shared__ static thread_local  // one block runs at a time on a thread
#define __launch_bounds__(...)
// The runtime's last error: launches here cannot fail asynchronously.
#define cudaGetLastError tandem_cuda_on_host_get_last_error

#include <cuda_runtime.h>
#include <cudnn.h>
#include <curand.h>
#include <nccl.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <type_traits>

#include "kernels/common/bad_index.h"
#include "kernels/common/dtype.h"
#include "kernels/dispatch.h"
#include "kernels/emulated/emulated_kernel.h"

namespace tandem::cuda_on_host {

// The running fiber's coordinates (one thread runs one block's fibers at a time).
struct Coordinates {
  uint3 thread_idx, block_idx;
  dim3 block_dim, grid_dim;
};
extern thread_local Coordinates here;
extern std::atomic<uint64_t> launches;  // kernels run so far, on every thread

// Runs body() as every thread of a grid of 1-D blocks.
void run_grid(dim3 grid, dim3 block, size_t shared_bytes, const std::function<void()>& body);
// The running fiber gives way until every other unfinished fiber of its block has too.
void yield_to_block();
unsigned char* dynamic_shared_bytes();
int64_t& lane_slot(unsigned thread);  // one 8-byte slot per thread, for the shuffles

template <typename Kernel>
struct Launch {
  dim3 grid, block;
  size_t shared_bytes;
  Kernel kernel;
  template <typename... Args>
  void operator()(Args... args) const {  // by value, as kernel parameters are
    run_grid(grid, block, shared_bytes, [&] { kernel(args...); });
  }
};

// A family's launcher installed, and run (the test binary prints the families that never ran).
void note_installed(const char* family);
void count_run(const char* family);
// Throws the bad index a launcher's kernel recorded, as the CUDA runtime does at its next wait
// (kernels/cuda/cuda_runtime.cpp): thrown here, on the emulated stream, it reaches the host at the
// stream's next synchronisation.
void throw_reported_bad_index();

// The emulated device's kernel for a family: its CUDA launcher, counted.
template <auto* Family, auto Launcher>
struct CountedLauncher;

template <auto* Family, typename... Args, void (*Launcher)(const kernels::KernelContext&, Args...)>
struct CountedLauncher<Family, Launcher> {
  static void run(const kernels::KernelContext& ctx, Args... args) {
    count_run(Family->name());
    Launcher(ctx, args...);
    throw_reported_bad_index();
  }
};

template <typename Kernel>
Launch<Kernel> launch(dim3 grid, dim3 block, size_t shared_bytes, Kernel kernel) {
  return {grid, block, shared_bytes, kernel};
}

void defer_installation(void (*install)());
// Puts every CUDA launcher compiled here in its family's emulated-device slot, and sets
// TANDEM_CUDA_KERNELS_ON_HOST=1 (tests/device_compare.h: results are then a GPU's, close to the
// CPU's rather than equal).
void install_cuda_kernels_on_host();

}  // namespace tandem::cuda_on_host

// Found by the kernels' unqualified calls (the kernel files' namespace, renamed).
namespace tandem::kernels::cuda_on_host {
BadIndexReport* bad_index_report();  // kernels/cuda/bad_index_report.h's, in host memory

template <typename T>
T* dynamic_shared() {
  return reinterpret_cast<T*>(::tandem::cuda_on_host::dynamic_shared_bytes());
}

// The kernels' scratch memory (a multi-pass reduction's partials, FloatStaging's float32 blocks):
// `device::device_allocator()` in a kernel file finds this one first. Launchers here run with the
// CPU's context and host addresses (kernels/emulated/emulated_kernel.h), so their scratch is host
// memory too, filled with ones (as dynamic shared memory is) so that a kernel that reads scratch
// before writing it computes NaN rather than a plausible zero.
namespace device {
class ScratchAllocator {
 public:
  void* allocate(size_t nbytes, int device, void* stream);
  void free(void* ptr);
  size_t live() const;       // blocks allocated and not yet freed
  size_t allocated() const;  // blocks allocated so far
};
ScratchAllocator& device_allocator();
}  // namespace device
}  // namespace tandem::kernels::cuda_on_host

#define threadIdx (::tandem::cuda_on_host::here.thread_idx)
#define blockIdx (::tandem::cuda_on_host::here.block_idx)
#define blockDim (::tandem::cuda_on_host::here.block_dim)
#define gridDim (::tandem::cuda_on_host::here.grid_dim)

inline void __syncthreads() { ::tandem::cuda_on_host::yield_to_block(); }

// Warp shuffles: every lane publishes its value, the block gives way, each reads its partner's,
// and the block gives way again before the slots are reused.
template <typename T>
T __shfl_xor_sync(unsigned, T value, int lane_mask, int width = 32) {
  static_assert(sizeof(T) <= sizeof(int64_t));
  const unsigned me = threadIdx.x;
  std::memcpy(&::tandem::cuda_on_host::lane_slot(me), &value, sizeof(T));
  ::tandem::cuda_on_host::yield_to_block();
  const unsigned partner =
      (me & ~unsigned(width - 1)) | ((me & unsigned(width - 1)) ^ unsigned(lane_mask));
  T got;
  std::memcpy(&got, &::tandem::cuda_on_host::lane_slot(partner), sizeof(T));
  ::tandem::cuda_on_host::yield_to_block();
  return got;
}

#define TANDEM_LAUNCH(grid, block, shared_bytes, stream, ...)                    \
  (static_cast<void>(stream),                                                    \
   ::tandem::cuda_on_host::launch(dim3(grid), dim3(block), size_t(shared_bytes), \
                                  [](auto... a) { __VA_ARGS__(a...); }))
