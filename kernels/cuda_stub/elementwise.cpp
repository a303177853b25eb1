// CUDA elementwise entry points for builds without CUDA: unreachable in practice (no tensor can
// be on a CUDA device), but they explain themselves if called.
#include "kernels/cuda/elementwise.h"

#include <stdexcept>

namespace tandem::kernels::cuda {
namespace {
[[noreturn]] void unavailable() { throw std::runtime_error("tandem was built without CUDA"); }
}  // namespace

template <typename T>
void unary(UnaryOp, const OpParams&, const Dims&, const T*, const Dims&, T*, const Dims&) {
  unavailable();
}
template <typename T>
void binary(BinaryOp, const OpParams&, const Dims&, const T*, const Dims&, const T*, const Dims&, T*,
            const Dims&) {
  unavailable();
}

template void unary<float>(UnaryOp, const OpParams&, const Dims&, const float*, const Dims&, float*, const Dims&);
template void unary<double>(UnaryOp, const OpParams&, const Dims&, const double*, const Dims&, double*, const Dims&);
template void binary<float>(BinaryOp, const OpParams&, const Dims&, const float*, const Dims&, const float*,
                            const Dims&, float*, const Dims&);
template void binary<double>(BinaryOp, const OpParams&, const Dims&, const double*, const Dims&, const double*,
                             const Dims&, double*, const Dims&);

}  // namespace tandem::kernels::cuda
