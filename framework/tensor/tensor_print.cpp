// Tensor printing, as PyTorch prints: tensor([[1.0000, 2.0000]], requires_grad=True).
#include <iomanip>
#include <sstream>

#include "framework/autograd/node.h"
#include "framework/tensor/tensor.h"

namespace tandem {

namespace {

void print_values(std::ostringstream& os, const std::vector<double>& v, const Shape& shape,
                  size_t dim, size_t& index, int indent, bool floating, bool boolean,
                  int precision) {
  if (shape.empty()) {
    const double x = v[index++];
    if (boolean)
      os << (x != 0 ? "True" : "False");
    else if (floating)
      os << std::fixed << std::setprecision(precision) << x;
    else
      os << int64_t(x);
    return;
  }
  os << "[";
  const int64_t n = shape[dim];
  for (int64_t i = 0; i < n; ++i) {
    if (i > 0) {
      os << ",";
      if (dim + 1 < shape.size())
        os << "\n" << std::string(indent + dim + 1, ' ');
      else
        os << " ";
    }
    if (dim + 1 == shape.size()) {
      const double x = v[index++];
      if (boolean)
        os << (x != 0 ? "True" : "False");
      else if (floating)
        os << std::fixed << std::setprecision(precision) << x;
      else
        os << int64_t(x);
    } else {
      print_values(os, v, shape, dim + 1, index, indent, floating, boolean, precision);
    }
  }
  os << "]";
}

}  // namespace

std::string Tensor::str() const {
  if (!defined()) return "tensor(undefined)";
  std::ostringstream os;
  os << "tensor(";
  std::vector<double> v = to_vector();
  size_t index = 0;
  const bool floating = is_floating(dtype());
  print_values(os, v, sizes(), 0, index, 7, floating, dtype() == DType::Bool, 4);
  if (!is_cpu_default_dtype()) os << ", dtype=torch." << dtype_name(dtype());
  if (device().is_cuda()) os << ", device='" << device().str() << "'";
  if (auto fn = grad_fn())
    os << ", grad_fn=<" << fn->name() << ">";
  else if (requires_grad())
    os << ", requires_grad=True";
  os << ")";
  return os.str();
}

bool Tensor::is_cpu_default_dtype() const {
  return dtype() == DType::Float32 || dtype() == DType::Int64;
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << t.str(); }

}  // namespace tandem
