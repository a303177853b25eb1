// The draws torchvision's random transforms make, reproduced bit for bit on a tandem Generator
// (an MT19937 seeded as torch's CPU generator), so that Generator(s) gives the crops and flips
// torchvision gives after torch.manual_seed(s). From PyTorch 1.13's CPU kernels
// (aten/src/ATen/core/DistributionsHelper.h, TransformationHelper.h,
// native/cpu/DistributionTemplates.h), each one 32-bit draw for these sizes:
//   torch.rand(1)                    (random() & 0xffffff) * 2^-24, as float
//   torch.empty(1).uniform_(a, b)    x * (b - a) + a in float, x as above, with one rounding:
//                                    torch's AVX2 build contracts it to an FMA (checked against
//                                    torch: the two-rounding form differs for ~1 draw in 4)
//   torch.randint(lo, hi, (1,))      random() % (hi - lo) + lo  (hi - lo < 2^32)
#pragma once

#include <cstdint>

#include "framework/tensor/generator.h"

namespace tandem::data {

float torch_rand(Generator& gen);
float torch_uniform(Generator& gen, double from, double to);
int64_t torch_randint(Generator& gen, int64_t low, int64_t high);

// torch.exp of a float32 tensor: Sleef's expf_u10 (what torch 1.13's AVX2 Vectorized<float>
// uses; glibc's expf differs from it in the last bit for ~7% of arguments), so that
// RandomResizedCrop's aspect ratio, exp(uniform_(log r0, log r1)), is torch's to the bit.
float torch_expf(float x);

}  // namespace tandem::data
