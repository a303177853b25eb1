// TEMPORARY: placeholders until the conv/pooling/norm/dropout/upsample ops land.
#include "framework/ops/conv.h"
#include "framework/ops/dropout.h"
#include "framework/ops/normalization.h"
#include "framework/ops/pooling.h"
#include "framework/ops/upsample.h"

namespace tandem {
#define TODO TANDEM_FAIL("not implemented yet: ", __func__)
Tensor conv2d(const Tensor&, const Tensor&, const Tensor&, Pair, Pair, Pair, int64_t) { TODO; }
Tensor conv_transpose2d(const Tensor&, const Tensor&, const Tensor&, Pair, Pair, Pair, int64_t, Pair) { TODO; }
Tensor max_pool2d(const Tensor&, Pair, Pair, Pair, Pair, bool) { TODO; }
Tensor avg_pool2d(const Tensor&, Pair, Pair, Pair, bool, bool) { TODO; }
Tensor adaptive_avg_pool2d(const Tensor&, Pair) { TODO; }
Tensor batch_norm(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&, bool, double, double) { TODO; }
Tensor dropout(const Tensor&, double, bool, Generator&) { TODO; }
Tensor dropout(const Tensor&, double, bool) { TODO; }
Tensor interpolate(const Tensor&, std::optional<Pair>, std::optional<UpsampleScale>, const std::string&, bool) { TODO; }
}  // namespace tandem
