// Process-wide numeric switches the kernels read (set from the run config by the trainer):
//   allow_tf32     GEMMs and convolutions on float32 may use TF32 tensor cores (faster, about
//                  1e-3 relative error); off by default, as training.allow_tf32.
//   deterministic  only algorithms that give bit-identical results run to run (cuDNN algorithm
//                  choice, no floating-point atomics); on by default, as training.deterministic.
#pragma once

#include <atomic>

namespace tandem::kernels {

struct MathOptions {
  bool allow_tf32 = false;
  bool deterministic = true;
};

inline std::atomic<bool>& allow_tf32_flag() {
  static std::atomic<bool> flag{false};
  return flag;
}
inline std::atomic<bool>& deterministic_flag() {
  static std::atomic<bool> flag{true};
  return flag;
}

inline MathOptions math_options() {
  return {allow_tf32_flag().load(), deterministic_flag().load()};
}
inline void set_math_options(const MathOptions& o) {
  allow_tf32_flag().store(o.allow_tf32);
  deterministic_flag().store(o.deterministic);
}

}  // namespace tandem::kernels
