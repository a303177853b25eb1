// TANDEM_REGISTER_CPU_KERNEL(family, fn): fn serves `family` on the CPU and, on host copies of
// its buffers, on the emulated CUDA device (kernels/emulated/emulated_kernel.h). Used at the
// end of each kernels/cpu/*.cpp, next to the kernels it registers.
#pragma once

#include "kernels/dispatch.h"
#include "kernels/emulated/emulated_kernel.h"
#include "kernels/kernel_table.h"

#define TANDEM_REGISTER_CPU_KERNEL(family, fn)                                            \
  [[maybe_unused]] static const bool TANDEM_KERNEL_CONCAT(tandem_cpu_kernel_, __LINE__) = \
      ::tandem::kernels::register_kernel(::tandem::kernels::family,                       \
                                         ::tandem::kernels::Backend::CPU, &fn) &&         \
      ::tandem::kernels::register_kernel(::tandem::kernels::family,                       \
                                         ::tandem::kernels::Backend::EmulatedCUDA,        \
                                         &::tandem::kernels::emulated::EmulatedKernel<&fn>::run)
