// PyTorch's CPU random fills on both of its paths (see random_fill.h). This file is compiled with
// -ffp-contract=off: every fused multiply-add below is an explicit std::fma, and no other
// product may be fused, or the bits would depend on the compiler's flags.
#include "framework/tensor/random_fill.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <numbers>
#include <type_traits>

#include "framework/tensor/normal_block_avx2.h"
#include "kernels/cpu/isa.h"

namespace tandem {

namespace {

float from_bits(uint32_t u) { return std::bit_cast<float>(u); }
uint32_t to_bits(float f) { return std::bit_cast<uint32_t>(f); }

// The portable emulation of torch's AVX2 block (normal_block_avx2.cpp runs it on the vector unit).

// avx_mathfun's log256_ps (Cephes logf) on one lane, in the order of the instructions GCC emitted
// for libtorch's AVX2 kernel: the polynomial in Horner form with fused steps, y * z fused with
// e * q1, z * 0.5 subtracted fused, and e * q2 fused into the final sum. Arguments here are in
// (0, 1], so the NaN mask for x <= 0 never fires; it is kept for fidelity.
float cephes_log(float x) {
  const bool invalid = x <= 0.0f;
  x = std::max(x, from_bits(0x00800000u));  // smallest normal: denormals are not handled
  float e = float(int32_t(to_bits(x) >> 23) - 0x7f) + 1.0f;
  x = from_bits((to_bits(x) & ~0x7f800000u) | to_bits(0.5f));  // mantissa in [0.5, 1)
  const bool below_sqrt_half = x < 0.707106781186547524f;
  const float tmp = below_sqrt_half ? x : 0.0f;
  x = x - 1.0f;
  e = e - (below_sqrt_half ? 1.0f : 0.0f);
  x = tmp + x;
  const float z = x * x;
  float y = 7.0376836292e-2f;
  for (float p : {-1.1514610310e-1f, 1.1676998740e-1f, -1.2420140846e-1f, 1.4249322787e-1f,
                  -1.6668057665e-1f, 2.0000714765e-1f, -2.4999993993e-1f, 3.3333331174e-1f})
    y = std::fma(y, x, p);
  y = x * y;
  y = std::fma(y, z, e * -2.12194440e-4f);
  y = std::fma(-z, 0.5f, y);
  x = x + y;
  x = std::fma(e, 0.693359375f, x);
  return invalid ? std::numeric_limits<float>::quiet_NaN() : x;
}

// avx_mathfun's sincos256_ps on one lane: Cephes' range reduction by pi/4 with the extended
// precision constants (fused), then the cosine and sine polynomials, selected per octant.
void cephes_sincos(float theta, float* sin_out, float* cos_out) {
  uint32_t sign_sin = to_bits(theta) & 0x80000000u;
  float x = from_bits(to_bits(theta) & 0x7fffffffu);
  int32_t octant = int32_t(x * 1.27323954473516f);  // 4 / pi, truncated as cvttps2dq
  octant = (octant + 1) & ~1;
  const float y = float(octant);
  const uint32_t swap_sign_sin = uint32_t(octant & 4) << 29;
  const bool cos_poly_is_cos = (octant & 2) == 0;
  const uint32_t sign_cos = uint32_t(~(octant - 2) & 4) << 29;
  x = std::fma(y, -0.78515625f, x);
  x = std::fma(y, -2.4187564849853515625e-4f, x);
  x = std::fma(y, -3.77489497744594108e-8f, x);
  sign_sin ^= swap_sign_sin;
  const float z = x * x;
  float c = 2.443315711809948e-5f;  // cosine polynomial
  c = std::fma(z, c, -1.388731625493765e-3f);
  c = std::fma(z, c, 4.166664568298827e-2f);
  c = z * c;
  c = std::fma(c, z, -(z * 0.5f));
  c = c + 1.0f;
  float s = std::fma(-1.9515295891e-4f, z, 8.3321608736e-3f);  // sine polynomial
  s = std::fma(z, s, -1.6666654611e-1f);
  s = z * s;
  s = std::fma(s, x, x);
  // The vector code blends the polynomials with masks and adds; kept literally, so a signed
  // zero comes out as it does there.
  const float s_part = cos_poly_is_cos ? s : 0.0f, c_part = cos_poly_is_cos ? 0.0f : c;
  const float sin_value = s_part + c_part, cos_value = (s - s_part) + (c - c_part);
  *sin_out = from_bits(to_bits(sin_value) ^ sign_sin);
  *cos_out = from_bits(to_bits(cos_value) ^ sign_cos);
}

// normal_fill_16_AVX2: radius from the Cephes log, angle through Cephes sincos, and the final
// n * std + mean fused (an explicit _mm256_fmadd_ps in torch).
void fill16_avx2_lanes(float* d, float mean, float std) {
  const float two_pi = float(2.0f * std::numbers::pi);
  for (int j = 0; j < 8; ++j) {
    const float u1 = 1.0f - d[j], u2 = d[j + 8];
    const float radius = std::sqrt(-2.0f * cephes_log(u1));
    float sin_theta, cos_theta;
    cephes_sincos(two_pi * u2, &sin_theta, &cos_theta);
    d[j] = std::fma(radius * cos_theta, std, mean);
    d[j + 8] = std::fma(radius * sin_theta, std, mean);
  }
}

// normal_fill_16<scalar_t>: the angle is computed in double (2.0f * pi<double> * u2) and then
// rounded to the tensor's type; the Avx2 build fuses the final n * std + mean.
template <typename T>
void fill16_scalar(T* d, T mean, T std, bool fused) {
  for (int j = 0; j < 8; ++j) {
    const T u1 = 1 - d[j];
    const T u2 = d[j + 8];
    const T radius = std::sqrt(-2 * std::log(u1));
    const T theta = T(2.0f * std::numbers::pi * u2);
    const T n1 = radius * std::cos(theta), n2 = radius * std::sin(theta);
    d[j] = fused ? std::fma(n1, std, mean) : n1 * std + mean;
    d[j + 8] = fused ? std::fma(n2, std, mean) : n2 * std + mean;
  }
}

// uniform_real_distribution<T>(0, 1)'s x: 24 random bits for float, 53 for double.
template <typename T>
T uniform01(Generator& gen) {
  if constexpr (std::is_same_v<T, float>)
    return gen.uniform_float();
  else
    return gen.uniform_double();
}

// Every uniform first, then the blocks of 16; a ragged tail redraws and recomputes the last 16.
template <typename T, typename Fill16>
void fill_in_blocks(T* data, int64_t n, Generator& gen, Fill16 fill16) {
  auto uniform = [&] { return uniform01<T>(gen); };
  for (int64_t i = 0; i < n; ++i) data[i] = uniform();
  for (int64_t i = 0; i + 16 <= n; i += 16) fill16(data + i);
  if (n % 16 != 0) {
    T* tail = data + n - 16;
    for (int i = 0; i < 16; ++i) tail[i] = uniform();
    fill16(tail);
  }
}

}  // namespace

void normal_block16_avx2(float* d, float mean, float std, bool vector_unit) {
  if (vector_unit)
    normal_block16_avx2_vector(d, mean, std);
  else
    fill16_avx2_lanes(d, mean, std);
}

// uniform_real_distribution<T>(from, to): x * (to - from) + from in T.
template <typename T>
void uniform_fill(T* data, int64_t n, double from, double to, Generator& gen, AtenCpuPath path) {
  const T lo = T(from), span = T(to) - lo;
  const bool fused = path == AtenCpuPath::Avx2;
  for (int64_t i = 0; i < n; ++i) {
    const T x = uniform01<T>(gen);
    data[i] = fused ? std::fma(x, span, lo) : x * span + lo;
  }
}

template <typename T>
void normal_fill(T* data, int64_t n, double mean, double std, bool contiguous, Generator& gen,
                 AtenCpuPath path) {
  const bool fused = path == AtenCpuPath::Avx2;
  if (n < 16 || !contiguous) {
    // normal_distribution<double>: a standard normal, then z * std + mean in double.
    for (int64_t i = 0; i < n; ++i) {
      const double z = gen.normal();
      data[i] = T(fused ? std::fma(z, std, mean) : z * std + mean);
    }
    return;
  }
  if constexpr (std::is_same_v<T, float>) {
    if (fused) {
      const bool vector_unit = kernels::cpu::cpu_has_avx2_fma();
      fill_in_blocks(data, n, gen, [&](float* d) {
        normal_block16_avx2(d, float(mean), float(std), vector_unit);
      });
      return;
    }
  }
  fill_in_blocks(data, n, gen, [&](T* d) { fill16_scalar(d, T(mean), T(std), fused); });
}

template void uniform_fill(float*, int64_t, double, double, Generator&, AtenCpuPath);
template void uniform_fill(double*, int64_t, double, double, Generator&, AtenCpuPath);
template void normal_fill(float*, int64_t, double, double, bool, Generator&, AtenCpuPath);
template void normal_fill(double*, int64_t, double, double, bool, Generator&, AtenCpuPath);

}  // namespace tandem
