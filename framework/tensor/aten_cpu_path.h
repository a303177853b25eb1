// Which of ATen's CPU builds PyTorch runs on this machine, for the operations whose rounding
// tandem reproduces bit for bit (random fills, optimizer steps).
//
// ATen compiles its CPU kernels once per capability and picks one at run time. On x86 CPUs with
// AVX2 and FMA it takes the AVX2 build (AVX-512 CPUs too, in PyTorch 1.13), compiled with -mfma:
// there GCC fuses each a * b + c into one rounding, and some kernels are hand-vectorised with their
// own arithmetic. Elsewhere, or with ATEN_CPU_CAPABILITY=default, it takes the default build, where
// a * b + c rounds twice. Their results differ in the last bit of many values.
#pragma once

namespace tandem {

enum class AtenCpuPath { Default, Avx2 };

// The build PyTorch takes on this CPU: Avx2 when it has AVX2 and FMA, unless the environment sets
// ATEN_CPU_CAPABILITY=default (read once, as ATen does).
AtenCpuPath pytorch_cpu_path();

}  // namespace tandem
