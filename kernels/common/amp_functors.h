// The per-element step of a loss scaler's unscale
// (torch._amp_foreach_non_finite_check_and_unscale_) and its scale update
// (torch._amp_update_scale_), shared by the CPU and CUDA kernels and the host-side GradScaler, with
// PyTorch's arithmetic: the gradient is multiplied by the float inverse scale in its own precision
// (also when it is not finite: the step is skipped anyway), and the scale is a float updated
// through double arithmetic, as the CUDA kernel does.
#pragma once

#include <cmath>
#include <cstdint>

#include "kernels/common/host_device.h"

namespace tandem::kernels {

// g *= inv_scale; true when g was inf or NaN.
template <typename T>
TANDEM_HD bool unscale_element(T& g, float inv_scale) {
  const bool non_finite = !std::isfinite(g);
  if (inv_scale != 1.0f) g = T(g * T(inv_scale));
  return non_finite;
}

// GradScaler's update after a step: back off on inf/NaN, grow after growth_interval steps
// without one (unless the grown scale would overflow float).
struct ScaleUpdate {
  double growth_factor, backoff_factor;
  int64_t growth_interval;
};
TANDEM_HD void update_scale(float& scale, int64_t& growth_tracker, bool found_inf,
                            const ScaleUpdate& u) {
  if (found_inf) {
    scale = float(double(scale) * u.backoff_factor);
    growth_tracker = 0;
    return;
  }
  const int64_t successful = growth_tracker + 1;
  if (successful == u.growth_interval) {
    const float grown = float(double(scale) * u.growth_factor);
    if (std::isfinite(grown)) scale = grown;
    growth_tracker = 0;
  } else {
    growth_tracker = successful;
  }
}

}  // namespace tandem::kernels
