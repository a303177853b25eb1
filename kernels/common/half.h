// IEEE float16 and bfloat16 as storage types: bit containers plus exact conversions to and from
// float (round-to-nearest-even), shared by host and device code. No arithmetic is done in them.
#pragma once

#include <cstdint>
#include <cstring>

#include "kernels/common/host_device.h"

namespace tandem::kernels {

struct Half {
  uint16_t bits = 0;
};
struct BFloat16 {
  uint16_t bits = 0;
};

TANDEM_HD uint32_t float_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof(u));
  return u;
}
TANDEM_HD float bits_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof(f));
  return f;
}

TANDEM_HD float half_to_float(Half h) {
  const uint32_t sign = (uint32_t(h.bits) & 0x8000u) << 16;
  uint32_t exp = (h.bits >> 10) & 0x1f;
  uint32_t mant = h.bits & 0x3ffu;
  if (exp == 0x1f) return bits_float(sign | 0x7f800000u | (mant << 13));  // inf / nan
  if (exp == 0) {
    if (mant == 0) return bits_float(sign);
    // Subnormal half: normalise into a float.
    exp = 127 - 15 + 1;
    while ((mant & 0x400u) == 0) {
      mant <<= 1;
      --exp;
    }
    mant &= 0x3ffu;
    return bits_float(sign | (exp << 23) | (mant << 13));
  }
  return bits_float(sign | ((exp + 127 - 15) << 23) | (mant << 13));
}

TANDEM_HD Half float_to_half(float f) {
  const uint32_t u = float_bits(f);
  const uint32_t sign = (u >> 16) & 0x8000u;
  const uint32_t abs = u & 0x7fffffffu;
  Half h;
  if (abs >= 0x7f800000u) {  // inf or nan (keep nan quiet)
    h.bits = uint16_t(sign | 0x7c00u | (abs > 0x7f800000u ? 0x200u : 0u));
    return h;
  }
  if (abs >= 0x477ff000u) {  // rounds to >= 65520: overflow to inf
    h.bits = uint16_t(sign | 0x7c00u);
    return h;
  }
  if (abs < 0x38800000u) {  // below the smallest normal half: subnormal or zero
    // Adding 0.5 makes the FPU do the round-to-nearest-even shift for us.
    const float magic = bits_float(abs) + 0.5f;
    h.bits = uint16_t(sign | (float_bits(magic) - 0x3f000000u));
    return h;
  }
  const uint32_t mant_odd = (abs >> 13) & 1u;
  uint32_t v = abs + ((15u - 127u) << 23) + 0xfffu + mant_odd;
  h.bits = uint16_t(sign | (v >> 13));
  return h;
}

TANDEM_HD float bfloat16_to_float(BFloat16 b) { return bits_float(uint32_t(b.bits) << 16); }

// Round to nearest even; a nan stays a (quiet) nan. Branch-free, so loops of it vectorise.
TANDEM_HD BFloat16 float_to_bfloat16(float f) {
  const uint32_t u = float_bits(f);
  const uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
  const uint32_t quiet_nan = (u >> 16) | 0x40u;
  BFloat16 b;
  b.bits = uint16_t((u & 0x7fffffffu) > 0x7f800000u ? quiet_nan : rounded);
  return b;
}

}  // namespace tandem::kernels
