// Dropout modules.
#include "framework/nn/dropout.h"

#include "framework/nn/size2.h"
#include "framework/ops/dropout.h"

namespace tandem::nn {

Dropout::Dropout(const char* class_name, double p, bool inplace,
                 std::shared_ptr<Generator> generator)
    : Module(class_name), p(p), inplace(inplace), generator(std::move(generator)) {
  TANDEM_CHECK(p >= 0 && p <= 1, "dropout probability has to be between 0 and 1, but got ",
               python_float_str(p));
}

Tensor Dropout::forward(const Tensor& x) { return dropout(x, p, training_, gen()); }
template <int Spatial>
Tensor DropoutNd<Spatial>::forward(const Tensor& x) {
  if constexpr (Spatial == 1)
    return dropout1d(x, p, training_, gen());
  else if constexpr (Spatial == 2)
    return dropout2d(x, p, training_, gen());
  else
    return dropout3d(x, p, training_, gen());
}
template class DropoutNd<1>;
template class DropoutNd<2>;
template class DropoutNd<3>;

std::string Dropout::extra_repr() const {
  return "p=" + python_float_str(p) + ", inplace=" + py_bool(inplace);
}

}  // namespace tandem::nn
