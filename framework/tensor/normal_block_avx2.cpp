// torch's normal_fill_16_AVX2 with intrinsics (see normal_block_avx2.h). The log and sincos are
// avx_mathfun's (Cephes), with a fused multiply-add wherever GCC fused one in libtorch; the
// portable emulation in random_fill.cpp computes the same lanes one at a time, and the tests hold
// the two together.
#include "framework/tensor/normal_block_avx2.h"

#include <numbers>
#include <stdexcept>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

namespace tandem {

#if defined(__x86_64__) && defined(__GNUC__)

namespace {

[[gnu::target("avx2,fma")]] inline __m256 splat(float v) { return _mm256_set1_ps(v); }
[[gnu::target("avx2,fma")]] inline __m256 splat_bits(int v) {
  return _mm256_castsi256_ps(_mm256_set1_epi32(v));
}

// log256_ps for x in (0, 1]: exponent and mantissa, then Cephes' polynomial.
[[gnu::target("avx2,fma")]] inline __m256 cephes_log(__m256 x) {
  const __m256 one = splat(1.0f);
  const __m256 invalid = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LE_OS);
  x = _mm256_max_ps(x, splat_bits(0x00800000));
  __m256i exponent = _mm256_srli_epi32(_mm256_castps_si256(x), 23);
  x = _mm256_and_ps(x, splat_bits(~0x7f800000));
  x = _mm256_or_ps(x, splat(0.5f));
  exponent = _mm256_sub_epi32(exponent, _mm256_set1_epi32(0x7f));
  __m256 e = _mm256_add_ps(_mm256_cvtepi32_ps(exponent), one);
  const __m256 below_sqrt_half = _mm256_cmp_ps(x, splat(0.707106781186547524f), _CMP_LT_OS);
  const __m256 tmp = _mm256_and_ps(x, below_sqrt_half);
  x = _mm256_sub_ps(x, one);
  e = _mm256_sub_ps(e, _mm256_and_ps(one, below_sqrt_half));
  x = _mm256_add_ps(tmp, x);
  const __m256 z = _mm256_mul_ps(x, x);
  __m256 y = splat(7.0376836292e-2f);
  for (float p : {-1.1514610310e-1f, 1.1676998740e-1f, -1.2420140846e-1f, 1.4249322787e-1f,
                  -1.6668057665e-1f, 2.0000714765e-1f, -2.4999993993e-1f, 3.3333331174e-1f})
    y = _mm256_fmadd_ps(y, x, splat(p));
  y = _mm256_mul_ps(x, y);
  y = _mm256_fmadd_ps(y, z, _mm256_mul_ps(e, splat(-2.12194440e-4f)));
  y = _mm256_fnmadd_ps(z, splat(0.5f), y);
  x = _mm256_add_ps(x, y);
  x = _mm256_fmadd_ps(e, splat(0.693359375f), x);
  return _mm256_or_ps(x, invalid);
}

// sincos256_ps: reduction by pi/4 in three fused steps, both polynomials, blended per octant.
[[gnu::target("avx2,fma")]] inline void cephes_sincos(__m256 theta, __m256* sin_out,
                                                      __m256* cos_out) {
  __m256 sign_sin = _mm256_and_ps(theta, splat_bits(int(0x80000000u)));
  __m256 x = _mm256_and_ps(theta, splat_bits(0x7fffffff));
  __m256i octant = _mm256_cvttps_epi32(_mm256_mul_ps(x, splat(1.27323954473516f)));
  octant = _mm256_and_si256(_mm256_add_epi32(octant, _mm256_set1_epi32(1)), _mm256_set1_epi32(~1));
  const __m256 y = _mm256_cvtepi32_ps(octant);
  const __m256i four = _mm256_set1_epi32(4);
  const __m256 swap_sign_sin =
      _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_and_si256(octant, four), 29));
  const __m256 poly_mask = _mm256_castsi256_ps(
      _mm256_cmpeq_epi32(_mm256_and_si256(octant, _mm256_set1_epi32(2)), _mm256_setzero_si256()));
  const __m256 sign_cos = _mm256_castsi256_ps(_mm256_slli_epi32(
      _mm256_andnot_si256(_mm256_sub_epi32(octant, _mm256_set1_epi32(2)), four), 29));
  x = _mm256_fmadd_ps(y, splat(-0.78515625f), x);
  x = _mm256_fmadd_ps(y, splat(-2.4187564849853515625e-4f), x);
  x = _mm256_fmadd_ps(y, splat(-3.77489497744594108e-8f), x);
  sign_sin = _mm256_xor_ps(sign_sin, swap_sign_sin);
  const __m256 z = _mm256_mul_ps(x, x);
  __m256 c = _mm256_fmadd_ps(z, splat(2.443315711809948e-5f), splat(-1.388731625493765e-3f));
  c = _mm256_fmadd_ps(z, c, splat(4.166664568298827e-2f));
  c = _mm256_mul_ps(z, c);
  c = _mm256_fmsub_ps(c, z, _mm256_mul_ps(z, splat(0.5f)));
  c = _mm256_add_ps(c, splat(1.0f));
  __m256 s = _mm256_fmadd_ps(splat(-1.9515295891e-4f), z, splat(8.3321608736e-3f));
  s = _mm256_fmadd_ps(z, s, splat(-1.6666654611e-1f));
  s = _mm256_mul_ps(z, s);
  s = _mm256_fmadd_ps(s, x, x);
  const __m256 s_part = _mm256_and_ps(poly_mask, s), c_part = _mm256_andnot_ps(poly_mask, c);
  *sin_out = _mm256_xor_ps(_mm256_add_ps(s_part, c_part), sign_sin);
  *cos_out =
      _mm256_xor_ps(_mm256_add_ps(_mm256_sub_ps(s, s_part), _mm256_sub_ps(c, c_part)), sign_cos);
}

}  // namespace

[[gnu::target("avx2,fma")]] void normal_block16_avx2_vector(float* d, float mean, float std) {
  const __m256 u1 = _mm256_sub_ps(splat(1.0f), _mm256_loadu_ps(d));
  const __m256 u2 = _mm256_loadu_ps(d + 8);
  const __m256 radius = _mm256_sqrt_ps(_mm256_mul_ps(splat(-2.0f), cephes_log(u1)));
  __m256 sin_theta, cos_theta;
  cephes_sincos(_mm256_mul_ps(splat(float(2.0f * std::numbers::pi)), u2), &sin_theta, &cos_theta);
  _mm256_storeu_ps(d, _mm256_fmadd_ps(_mm256_mul_ps(radius, cos_theta), splat(std), splat(mean)));
  _mm256_storeu_ps(d + 8,
                   _mm256_fmadd_ps(_mm256_mul_ps(radius, sin_theta), splat(std), splat(mean)));
}

#else

void normal_block16_avx2_vector(float*, float, float) {
  throw std::logic_error("normal_block16_avx2_vector: this CPU has no AVX2");
}

#endif

}  // namespace tandem
