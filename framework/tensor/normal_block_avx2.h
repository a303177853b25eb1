// torch's normal_fill_16_AVX2 on this CPU's vector unit: one block of 16 (uniforms in, normals
// out) with AVX2 and FMA intrinsics, the instructions Debian's libtorch 1.13 runs, in their order.
// Callable only where the CPU has AVX2 and FMA (kernels/cpu/isa.h: cpu_has_avx2_fma); the functions
// are compiled for those instructions one by one (a target attribute), never the whole file, so
// nothing built for AVX2 can stand in for baseline code elsewhere.
#pragma once

#include "framework/tensor/aten_cpu_path.h"

namespace tandem {

// d[0, 16): uniforms in [0, 1) in, N(mean, std) out.
void normal_block16_avx2_vector(float* d, float mean, float std);

}  // namespace tandem
