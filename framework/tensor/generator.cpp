// MT19937 with PyTorch's seeding (init_genrand on the low 32 bits of the seed) and draw recipes.
#include "framework/tensor/generator.h"

#include <cmath>
#include <sstream>

#include "kernels/common/error.h"

namespace tandem {

Generator::Generator(uint64_t seed) { manual_seed(seed); }

void Generator::manual_seed(uint64_t seed) {
  seed_ = seed;
  mt_[0] = uint32_t(seed & 0xffffffffu);
  for (int j = 1; j < 624; ++j) mt_[j] = 1812433253u * (mt_[j - 1] ^ (mt_[j - 1] >> 30)) + uint32_t(j);
  index_ = 624;
  has_next_normal_ = false;
}

void Generator::twist() {
  constexpr uint32_t kUpper = 0x80000000u, kLower = 0x7fffffffu, kMatrix = 0x9908b0dfu;
  for (int i = 0; i < 624; ++i) {
    const uint32_t y = (mt_[i] & kUpper) | (mt_[(i + 1) % 624] & kLower);
    mt_[i] = mt_[(i + 397) % 624] ^ (y >> 1) ^ ((y & 1u) ? kMatrix : 0u);
  }
  index_ = 0;
}

uint32_t Generator::random() {
  if (index_ >= 624) twist();
  uint32_t y = mt_[index_++];
  y ^= y >> 11;
  y ^= (y << 7) & 0x9d2c5680u;
  y ^= (y << 15) & 0xefc60000u;
  y ^= y >> 18;
  return y;
}

uint64_t Generator::random64() {
  const uint64_t hi = random();
  const uint64_t lo = random();
  return (hi << 32) | lo;
}

float Generator::uniform_float() {
  return float(double(random() & ((1u << 24) - 1)) * (1.0 / double(1u << 24)));
}

double Generator::uniform_double() {
  return double(random64() & ((uint64_t(1) << 53) - 1)) * (1.0 / double(uint64_t(1) << 53));
}

double Generator::normal() {
  if (has_next_normal_) {
    has_next_normal_ = false;
    return next_normal_;
  }
  const double u1 = uniform_double();
  const double u2 = uniform_double();
  const double r = std::sqrt(-2.0 * std::log1p(-u2));
  const double theta = 2.0 * M_PI * u1;
  next_normal_ = r * std::sin(theta);
  has_next_normal_ = true;
  return r * std::cos(theta);
}

std::string Generator::get_state() const {
  std::ostringstream os;
  os << "mt19937 " << seed_ << " " << index_ << " " << has_next_normal_ << " ";
  os.precision(17);
  os << next_normal_;
  for (uint32_t w : mt_) os << " " << w;
  return os.str();
}

void Generator::set_state(const std::string& state) {
  std::istringstream is(state);
  std::string tag;
  Generator g;
  is >> tag >> g.seed_ >> g.index_ >> g.has_next_normal_ >> g.next_normal_;
  for (auto& w : g.mt_) is >> w;
  TANDEM_CHECK(tag == "mt19937" && !is.fail() && g.index_ >= 0 && g.index_ <= 624,
               "invalid generator state (expected 'mt19937' followed by 630 numbers)");
  *this = g;
}

Generator& default_generator() {
  static Generator gen;
  return gen;
}

void manual_seed(uint64_t seed) { default_generator().manual_seed(seed); }

}  // namespace tandem
