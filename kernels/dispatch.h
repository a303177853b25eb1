// The dispatch mechanism between framework/ops and the kernels, in the spirit of ATen's
// DispatchStub cut down to what tandem needs: a KernelFamily is one function-pointer type with
// one slot per backend. kernels/kernel_table.h declares every family (the backend contract);
// each backend's translation units fill their slots at static-initialisation time:
//
//   // kernels/cpu/pooling.cpp
//   void max_pool2d_cpu(const KernelContext&, const Buffer& in, ...) { ... }
//   TANDEM_REGISTER_CPU_KERNEL(max_pool2d_forward, max_pool2d_cpu);
//
//   // framework/ops/pooling.cpp
//   kernels::max_pool2d_forward(x.device())(ctx, in, ...);
//
// Kernels see plain descriptors (Buffer, StridedBuffer: pointer, dtype, strides) and a
// KernelContext (device, stream), never a Tensor. Every pointer a kernel receives lives on the
// kernel's device, so no kernel argument may be a raw pointer: that lets the emulated CUDA device
// run each CPU kernel on the host copies of its buffers (kernels/emulated/emulated_kernel.h).
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "kernels/common/device.h"
#include "kernels/common/dtype.h"
#include "kernels/common/error.h"
#include "kernels/common/small_vector.h"

namespace tandem::kernels {

// Sizes and strides: inline up to 5 dims (as PyTorch keeps them), so describing an operand to
// a kernel allocates nothing.
using Dims = SmallVector<int64_t, 5>;

// Where a kernel runs. CUDA tensors use Backend::CUDA on a real GPU and Backend::EmulatedCUDA
// when the emulated device serves them (TANDEM_EMULATE_CUDA, see kernels/device/runtime.h).
enum class Backend : uint8_t { CPU, CUDA, EmulatedCUDA };
constexpr size_t kNumBackends = 3;
Backend backend_of(Device device);
const char* backend_name(Backend b);

// The device and stream a kernel runs on (stream: a cudaStream_t, an emulated stream, or null
// on the CPU). Built by the framework with kernels::context_for(device).
struct KernelContext {
  Device device;
  void* stream = nullptr;
};

// A block of elements on the kernel's device (contiguous unless the family says otherwise).
// data == nullptr means "absent" for optional operands (a missing bias or weight).
struct Buffer {
  void* data = nullptr;
  DType dtype = DType::Float32;

  bool defined() const { return data != nullptr; }
  template <typename T>
  T* as() const {
    return static_cast<T*>(data);
  }
};

// A strided operand over an index space whose sizes the family passes separately; strides are
// in elements and 0 along broadcast (or reduced) dims.
struct StridedBuffer {
  void* data = nullptr;
  DType dtype = DType::Float32;
  Dims strides;

  template <typename T>
  T* as() const {
    return static_cast<T*>(data);
  }
};

[[noreturn]] void throw_missing_kernel(const char* family, Backend backend);

template <typename Fn>
class KernelFamily;

template <typename... Args>
class KernelFamily<void(const KernelContext&, Args...)> {
 public:
  using Fn = void(const KernelContext&, Args...);

  constexpr explicit KernelFamily(const char* name) : name_(name) {}
  KernelFamily(const KernelFamily&) = delete;
  KernelFamily& operator=(const KernelFamily&) = delete;

  const char* name() const { return name_; }
  void set(Backend b, Fn* fn) { slots_[size_t(b)] = fn; }
  bool has(Backend b) const { return slots_[size_t(b)] != nullptr; }

  // The kernel for `ctx.device`, called with `args`; a missing slot is one clear error.
  void operator()(const KernelContext& ctx, Args... args) const {
    const Backend b = backend_of(ctx.device);
    Fn* fn = slots_[size_t(b)];
    if (!fn) throw_missing_kernel(name_, b);
    fn(ctx, args...);
  }

 private:
  const char* name_;
  std::array<Fn*, kNumBackends> slots_{};
};

// Registration helpers (one static bool per registration; the macro's line makes it unique).
template <typename Family, typename Fn>
bool register_kernel(Family& family, Backend backend, Fn* fn) {
  family.set(backend, fn);
  return true;
}

}  // namespace tandem::kernels

#define TANDEM_KERNEL_CONCAT_(a, b) a##b
#define TANDEM_KERNEL_CONCAT(a, b) TANDEM_KERNEL_CONCAT_(a, b)

// Registers `fn` as the CUDA (real GPU) kernel of `family` (tests/cuda_on_host, which compiles
// the CUDA kernel files as host C++, registers them its own way).
#if !defined(TANDEM_REGISTER_CUDA_KERNEL)
#define TANDEM_REGISTER_CUDA_KERNEL(family, fn)                                            \
  [[maybe_unused]] static const bool TANDEM_KERNEL_CONCAT(tandem_cuda_kernel_, __LINE__) = \
      ::tandem::kernels::register_kernel(::tandem::kernels::family,                        \
                                         ::tandem::kernels::Backend::CUDA, &fn)
#endif
