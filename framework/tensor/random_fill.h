// PyTorch's CPU random fills, bit for bit: uniform_ and normal_, and so rand, randn and
// nn::init's fills.
//
// ATen compiles its distribution kernels once per CPU capability and picks one build at run time;
// the builds round differently, so their values differ in the last bit (40% to 50% of them):
//   - Default (CPUs without AVX2, or ATEN_CPU_CAPABILITY=default): a * b + c rounds twice, and
//     float32 normal_ calls libm's logf, cosf and sinf.
//   - Avx2 (AVX2 and FMA; AVX-512 CPUs too): the build has -mfma and GCC fuses each a * b + c
//     into one rounding, and float32 normal_ of 16 or more contiguous values is a vector kernel
//     with avx_mathfun's Cephes log and sincos.
// tandem takes the path PyTorch takes on the same CPU. Both are written in portable scalar code
// (each fused step an explicit std::fma; the vector kernel one lane at a time), so both run, and
// are tested, on any machine.
//
// normal_ (aten/src/ATen/native/cpu/DistributionTemplates.h): 16 or more values of a contiguous
// tensor are filled in blocks: every uniform drawn first, then the pairs (i, i + 8) of each block
// of 16 turned into two normals by Box-Muller, a ragged tail redrawing and recomputing the last
// 16; anything else takes one double normal per element.
#pragma once

#include <cstdint>

#include "framework/tensor/generator.h"

namespace tandem {

enum class AtenCpuPath { Default, Avx2 };

// The path PyTorch takes on this CPU: Avx2 when it has AVX2 and FMA, unless the environment sets
// ATEN_CPU_CAPABILITY=default (read once, as ATen does).
AtenCpuPath pytorch_cpu_path();

// U[from, to) into data[0, n), T = float or double; the bounds are rounded to T first, as torch's.
template <typename T>
void uniform_fill(T* data, int64_t n, double from, double to, Generator& gen, AtenCpuPath path);

// N(mean, std) into data[0, n), T = float or double. `contiguous`: the tensor the values are for
// is contiguous, which (with n >= 16) selects the block fill.
template <typename T>
void normal_fill(T* data, int64_t n, double mean, double std, bool contiguous, Generator& gen,
                 AtenCpuPath path);

// One block of 16 on the Avx2 path (uniforms in [0, 1) in, normals out): on the CPU's vector unit
// (it must have AVX2 and FMA) or in the portable emulation. The fills take the vector unit where
// there is one; tests hold the two together.
void normal_block16_avx2(float* d, float mean, float std, bool vector_unit);

}  // namespace tandem
