// torch's CPU draw recipes and Sleef's expf on tandem's Generator.
#include "framework/data/torch_draws.h"

#include <cmath>

#include "kernels/common/error.h"

namespace tandem::data {

float torch_rand(Generator& gen) { return gen.uniform_float(); }

float torch_uniform(Generator& gen, double from, double to) {
  const float a = float(from), b = float(to);
  const float x = float(gen.random() & ((1u << 24) - 1)) * (1.0f / float(1u << 24));
  return std::fma(x, b - a, a);
}

int64_t torch_randint(Generator& gen, int64_t low, int64_t high) {
  TANDEM_CHECK(high > low && uint64_t(high - low) < (uint64_t(1) << 32),
               "torch_randint: the range [", low, ", ", high, ") must be non-empty and < 2^32");
  return int64_t(gen.random() % uint32_t(high - low)) + low;
}

float torch_expf(float d) {
  // Sleef 3.x xexpf (sleefsimdsp.c), with FMA for its multiply-adds as the AVX2 build has.
  if (d < -104.0f) return 0.0f;
  if (d > 100.0f) return HUGE_VALF;
  const float q = std::nearbyint(d * 1.442695040888963407359924681001892137426645954152985934135f);
  float s = std::fma(q, -0.693145751953125f, d);
  s = std::fma(q, -1.428606765330187045e-06f, s);
  float u = 0.000198527617612853646278381f;
  u = std::fma(u, s, 0.00139304355252534151077271f);
  u = std::fma(u, s, 0.00833336077630519866943359f);
  u = std::fma(u, s, 0.0416664853692054748535156f);
  u = std::fma(u, s, 0.166666671633720397949219f);
  u = std::fma(u, s, 0.5f);
  u = 1.0f + std::fma(s * s, u, s);
  // vldexp2: two halves of the exponent, so 2^q never overflows on its own.
  const int qi = int(q);
  return std::ldexp(std::ldexp(u, qi >> 1), qi - (qi >> 1));
}

}  // namespace tandem::data
