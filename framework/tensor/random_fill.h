// PyTorch's CPU random fills, bit for bit: uniform_ and normal_, and so rand, randn and
// nn::init's fills.
//
// PyTorch's two CPU builds (aten_cpu_path.h) round these fills differently, in the last bit of
// 40% to 50% of the values: the default build rounds a * b + c twice and its float32 normal_ calls
// libm's logf, cosf and sinf; the AVX2 build fuses a * b + c, and its float32 normal_ of 16 or
// more contiguous values is a vector kernel with avx_mathfun's Cephes log and sincos. tandem takes
// the path PyTorch takes on the same CPU. Both are written in portable scalar code (each fused
// step an explicit std::fma; the vector kernel one lane at a time, and on the vector unit where
// the CPU has one), so both run, and are tested, on any machine.
//
// normal_ (aten/src/ATen/native/cpu/DistributionTemplates.h): 16 or more values of a contiguous
// tensor are filled in blocks: every uniform drawn first, then the pairs (i, i + 8) of each block
// of 16 turned into two normals by Box-Muller, a ragged tail redrawing and recomputing the last
// 16; anything else takes one double normal per element.
#pragma once

#include <cstdint>

#include "framework/tensor/aten_cpu_path.h"
#include "framework/tensor/generator.h"

namespace tandem {

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
