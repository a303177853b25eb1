// pad: torch.nn.functional.pad, differentiable, for any dtype and device.
//
//   pad(x, {1, 2})                        // last dim: 1 before, 2 after, zeros
//   pad(x, {1, 1, 2, 0}, "reflect")       // (left, right) of the last dim, then (top, bottom)
//   pad(x, {-1, 0}, "constant", 3.0)      // negative pads crop
//
// `pads` lists (before, after) pairs from the last dim backwards, as PyTorch. Modes:
//   constant   fill with `value` (default 0); any number of dims
//   reflect    mirror without repeating the edge ([1 2 3] -> 3 2 [1 2 3] 2 1); pads < the dim
//   replicate  repeat the edge ([1 2 3] -> 1 1 [1 2 3] 3 3)
//   circular   wrap around ([1 2 3] -> 2 3 [1 2 3] 1 2); pads <= the dim; negative ones crop
//              first, and the rest wraps the cropped tensor, as PyTorch 1.13
// The non-constant modes pad the last 1, 2 or 3 dims of a tensor with one or two more dims (a
// batch dim is optional), as PyTorch's reflection/replication/circular pads; errors are
// PyTorch's. The non-constant modes gather with index_select, so their backward sums the
// gradient of every copy of an element into it.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "framework/tensor/tensor.h"

namespace tandem {

Tensor pad(const Tensor& x, const std::vector<int64_t>& pads, const std::string& mode = "constant",
           std::optional<double> value = std::nullopt);

}  // namespace tandem
