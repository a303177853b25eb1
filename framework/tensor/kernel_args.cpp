// Tensor -> kernel descriptors (see kernel_args.h).
#include "framework/tensor/kernel_args.h"

namespace tandem {

kernels::Buffer buffer(const Tensor& t) {
  if (!t.defined()) return {};
  TANDEM_CHECK(t.is_contiguous(),
               "internal error: a kernel was given a non-contiguous tensor of "
               "shape ",
               shape_str(t.sizes()));
  return {t.raw_data(), t.dtype()};
}

kernels::StridedBuffer strided(const Tensor& t) { return {t.raw_data(), t.dtype(), t.strides()}; }

kernels::StridedBuffer strided_as(const Tensor& t, const Shape& shape) {
  Shape st(shape.size(), 0);
  const size_t lead = shape.size() - size_t(t.dim());
  for (size_t i = 0; i < size_t(t.dim()); ++i)
    st[lead + i] = t.sizes()[i] == 1 ? 0 : t.strides()[i];
  return {t.raw_data(), t.dtype(), std::move(st)};
}

kernels::Slab slab_around(const Shape& sizes, int64_t dim) {
  kernels::Slab s;
  for (int64_t d = 0; d < int64_t(sizes.size()); ++d) {
    if (d < dim)
      s.outer *= sizes[size_t(d)];
    else if (d == dim)
      s.n = sizes[size_t(d)];
    else
      s.inner *= sizes[size_t(d)];
  }
  return s;
}

void check_same_device(const char* op, std::initializer_list<const Tensor*> tensors) {
  const Tensor* first = nullptr;
  for (const Tensor* t : tensors) {
    if (!t->defined()) continue;
    if (!first) {
      first = t;
      continue;
    }
    if (t->device() != first->device())
      throw Error(detail::concat(op,
                                 ": Expected all tensors to be on the same device, but found "
                                 "at least two devices, ",
                                 first->device().str(), " and ", t->device().str(), "!"),
                  "move the tensors to one device with .to(device)");
  }
}

}  // namespace tandem
