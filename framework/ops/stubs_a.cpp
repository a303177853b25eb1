// TEMPORARY: placeholders until the reduction/activation/linalg/loss/shape ops land.
#include "framework/ops/activation.h"
#include "framework/ops/linalg.h"
#include "framework/ops/loss.h"
#include "framework/ops/reduction.h"
#include "framework/ops/shape_ops.h"

namespace tandem {
#define TODO TANDEM_FAIL("not implemented yet: ", __func__)
Tensor var(const Tensor&, const Shape&, int64_t, bool) { TODO; }
Tensor max(const Tensor&) { TODO; }
std::pair<Tensor, Tensor> max(const Tensor&, int64_t, bool) { TODO; }
Tensor amax(const Tensor&, const Shape&, bool) { TODO; }
Tensor argmax(const Tensor&, int64_t, bool) { TODO; }
Tensor relu(const Tensor&) { TODO; }
Tensor leaky_relu(const Tensor&, double) { TODO; }
Tensor gelu(const Tensor&, const std::string&) { TODO; }
Tensor sigmoid(const Tensor&) { TODO; }
Tensor tanh(const Tensor&) { TODO; }
Tensor softmax(const Tensor&, int64_t) { TODO; }
Tensor log_softmax(const Tensor&, int64_t) { TODO; }
Tensor matmul(const Tensor&, const Tensor&) { TODO; }
Tensor mm(const Tensor&, const Tensor&) { TODO; }
Tensor linear(const Tensor&, const Tensor&, const Tensor&) { TODO; }
Reduction reduction_from_string(const std::string&) { TODO; }
Tensor cross_entropy(const Tensor&, const Tensor&, const Tensor&, Reduction, int64_t, double) { TODO; }
Tensor nll_loss(const Tensor&, const Tensor&, const Tensor&, Reduction, int64_t) { TODO; }
Tensor mse_loss(const Tensor&, const Tensor&, Reduction) { TODO; }
Tensor cat(const std::vector<Tensor>&, int64_t) { TODO; }
Tensor stack(const std::vector<Tensor>&, int64_t) { TODO; }
Tensor index_select(const Tensor&, int64_t, const Tensor&) { TODO; }
}  // namespace tandem
