// Walks over the (N, C, S) layout of batch normalisation and a convolution's per-channel bias
// (element (n, c, s) at (n * C + c) * S + s), each a thread's sequence first, first + step,
// first + 2 * step, ... advanced without a division per element. A GPU has no integer divider:
// finding the channel or the offset of each element by `/` and `%` costs a memory-bound kernel
// several times its memory time. The walks divide once, when they start.
//
// Host and device code (TANDEM_HD), so the CPU tests check them against the division
// (tests/test_spatial_functors.cpp).
#pragma once

#include <cstdint>

#include "kernels/common/host_device.h"

namespace tandem::kernels {

// An empty layout has nothing to walk; its walks divide by 1 instead of 0 (and are never used).
TANDEM_HD int64_t walk_divisor(int64_t size) { return size > 0 ? size : 1; }

// The offsets of elements first, first + step, ... of channel c's N * S elements (element e is
// (n, s) = (e / S, e % S)).
struct ChannelElementWalk {
  int64_t offset;  // of the current element
  int64_t s, S, step_s, step_offset, wrap;

  TANDEM_HD ChannelElementWalk(int64_t first, int64_t step, int64_t c, int64_t C, int64_t size)
      : S(walk_divisor(size)) {
    s = first % S;
    offset = ((first / S) * C + c) * S + s;
    step_s = step % S;
    step_offset = (step / S) * C * S + step_s;
    wrap = C * S - S;
  }

  TANDEM_HD void advance() {
    s += step_s;
    offset += step_offset;
    if (s >= S) {  // carried into the next sample: past the other channels' planes
      s -= S;
      offset += wrap;
    }
  }
};

// The channels of flat elements first, first + step, ... of an (N, C, S) tensor.
struct ChannelIndexWalk {
  int64_t channel;  // of the current element
  int64_t s, S, C, step_s, step_c;

  TANDEM_HD ChannelIndexWalk(int64_t first, int64_t step, int64_t channels, int64_t size)
      : S(walk_divisor(size)), C(walk_divisor(channels)) {
    channel = (first / S) % C;
    s = first % S;
    step_s = step % S;
    step_c = (step / S) % C;
  }

  TANDEM_HD void advance() {
    s += step_s;
    channel += step_c;
    if (s >= S) {
      s -= S;
      ++channel;
    }
    if (channel >= C) channel -= C;  // below 2C: step_c < C, plus one carry
  }
};

}  // namespace tandem::kernels
