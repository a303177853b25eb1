// Generator: a seeded MT19937 stream with PyTorch's CPU generator semantics, so that
// randperm(n, gen) after manual_seed(s) gives torch.randperm(n) after torch.manual_seed(s), and
// uniform draws use torch's bit recipes (24 bits for float, 53 for double).
//
//   tandem::Generator gen(0);
//   Tensor perm = tandem::randperm(10, gen);   // == torch.randperm(10) after manual_seed(0)
#pragma once

#include <array>
#include <cstdint>
#include <string>

namespace tandem {

class Generator {
 public:
  explicit Generator(uint64_t seed = 67280421310721ULL);  // PyTorch's default CPU seed
  void manual_seed(uint64_t seed);
  uint64_t initial_seed() const { return seed_; }

  // The draws are inline: dropout masks and random tensors take one or two per element.
  uint32_t random() {  // raw 32-bit MT19937 output
    if (index_ >= 624) twist();
    uint32_t y = mt_[index_++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    return y ^ (y >> 18);
  }
  uint64_t random64() {  // two draws, as at::CPUGeneratorImpl::random64 (hi then lo)
    const uint64_t hi = random();
    return (hi << 32) | random();
  }
  float uniform_float() {  // [0, 1) from 24 bits
    return float(double(random() & ((1u << 24) - 1)) * (1.0 / double(1u << 24)));
  }
  double uniform_double() {  // [0, 1) from 53 bits
    return double(random64() & ((uint64_t(1) << 53) - 1)) * (1.0 / double(uint64_t(1) << 53));
  }
  double normal();  // standard normal (Box-Muller, with the spare draw cached)

  // Full state, for checkpoints: 624 words + position + seed + cached normal.
  std::string get_state() const;
  void set_state(const std::string& state);  // throws on a malformed state

 private:
  void twist();
  std::array<uint32_t, 624> mt_{};
  int index_ = 624;
  uint64_t seed_ = 0;
  bool has_next_normal_ = false;
  double next_normal_ = 0.0;
};

// The process-wide default generator (seeded by manual_seed), used when no generator is given.
Generator& default_generator();
void manual_seed(uint64_t seed);

}  // namespace tandem
