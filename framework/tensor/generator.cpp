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
  for (int j = 1; j < 624; ++j)
    mt_[j] = 1812433253u * (mt_[j - 1] ^ (mt_[j - 1] >> 30)) + uint32_t(j);
  index_ = 624;
  has_next_normal_ = false;
}

// The reference twist in three runs, so no index needs a modulo: entries 0..226 mix with the
// old 397..623, entries 227..622 with the new 0..395, entry 623 with the new 396 and 0.
void Generator::twist() {
  constexpr uint32_t kUpper = 0x80000000u, kLower = 0x7fffffffu, kMatrix = 0x9908b0dfu;
  auto mix = [](uint32_t a, uint32_t b, uint32_t far) {
    const uint32_t y = (a & kUpper) | (b & kLower);
    return far ^ (y >> 1) ^ ((y & 1u) ? kMatrix : 0u);
  };
  int i = 0;
  for (; i < 624 - 397; ++i) mt_[i] = mix(mt_[i], mt_[i + 1], mt_[i + 397]);
  for (; i < 623; ++i) mt_[i] = mix(mt_[i], mt_[i + 1], mt_[i + 397 - 624]);
  mt_[623] = mix(mt_[623], mt_[0], mt_[396]);
  index_ = 0;
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
