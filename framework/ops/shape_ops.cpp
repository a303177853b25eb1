// cat / stack / index_select. cat copies each input into a narrow() slice of the output; its
// backward hands each input its slice of the gradient. index_select gathers rows along a dim
// with the index_select kernel family and scatters them back (index_add) in backward.
#include "framework/ops/shape_ops.h"

#include "framework/autograd/grad_mode.h"
#include "framework/autograd/node.h"
#include "framework/tensor/factories.h"
#include "framework/tensor/kernel_args.h"
#include "kernels/kernel_table.h"

namespace tandem {

using autograd::record;
using autograd::TensorList;

namespace {

// PyTorch still accepts (and skips) legacy empty 1-D tensors of shape [0] in cat.
bool skipped_in_cat(const Tensor& t) { return t.dim() == 1 && t.numel() == 0; }

}  // namespace

Tensor cat(const std::vector<Tensor>& tensors, int64_t dim_in) {
  TANDEM_CHECK(!tensors.empty(), "torch.cat(): expected a non-empty list of Tensors");
  const Tensor* ref = nullptr;
  DType dt = tensors[0].dtype();
  for (const Tensor& t : tensors) {
    TANDEM_CHECK(t.defined(), "torch.cat(): undefined tensor in the list");
    TANDEM_CHECK(t.dim() > 0, "zero-dimensional tensor (at position ", &t - tensors.data(),
                 ") cannot be concatenated");
    dt = promote_types(dt, t.dtype());
    TANDEM_CHECK(t.device() == tensors[0].device(),
                 "Expected all tensors to be on the same device, but found at least two devices, ",
                 tensors[0].device().str(), " and ", t.device().str(), "!");
    if (!ref && !skipped_in_cat(t)) ref = &t;
  }
  if (!ref) return empty({0}, TensorOptions(dt).with_device(tensors[0].device()));
  const int64_t dim = wrap_dim(dim_in, ref->dim(), "cat");
  Shape out_shape = ref->sizes();
  out_shape[dim] = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    if (skipped_in_cat(t)) continue;
    TANDEM_CHECK(t.dim() == ref->dim(), "Tensors must have same number of dimensions: got ",
                 ref->dim(), " and ", t.dim());
    for (int64_t d = 0; d < t.dim(); ++d)
      TANDEM_CHECK(d == dim || t.size(d) == ref->size(d),
                   "Sizes of tensors must match except in dimension ", dim, ". Expected size ",
                   ref->size(d), " but got size ", t.size(d), " for tensor number ", i,
                   " in the list.");
    out_shape[dim] += t.size(dim);
  }
  Tensor out = empty(out_shape, TensorOptions(dt).with_device(ref->device()));
  std::vector<int64_t> offsets, lengths;
  std::vector<DType> dtypes;
  std::vector<bool> skipped;
  {
    NoGradGuard no_grad;
    int64_t offset = 0;
    for (const Tensor& t : tensors) {
      const int64_t len = skipped_in_cat(t) ? 0 : t.size(dim);
      if (len > 0) out.narrow(dim, offset, len).copy_(t);
      offsets.push_back(offset);
      lengths.push_back(len);
      dtypes.push_back(t.dtype());
      skipped.push_back(skipped_in_cat(t));
      offset += len;
    }
  }
  record("CatBackward0", TensorList(tensors.begin(), tensors.end()), {out}, {},
         [dim, offsets, lengths, dtypes, skipped](const TensorList& g, const TensorList&) {
           TensorList grads;
           for (size_t i = 0; i < offsets.size(); ++i) {
             if (skipped[i]) {
               grads.push_back(zeros({0}, g[0].options().with_dtype(dtypes[i])));
               continue;
             }
             Tensor gi = g[0].narrow(dim, offsets[i], lengths[i]);
             grads.push_back(gi.dtype() == dtypes[i] ? gi : gi.to(dtypes[i]));
           }
           return grads;
         });
  return out;
}

Tensor stack(const std::vector<Tensor>& tensors, int64_t dim_in) {
  TANDEM_CHECK(!tensors.empty(), "stack expects a non-empty TensorList");
  const int64_t dim = wrap_dim(dim_in, tensors[0].dim() + 1, "stack");
  std::vector<Tensor> unsqueezed;
  for (size_t i = 0; i < tensors.size(); ++i) {
    TANDEM_CHECK(tensors[i].sizes() == tensors[0].sizes(),
                 "stack expects each tensor to be equal size, but got ",
                 shape_str(tensors[0].sizes()), " at entry 0 and ", shape_str(tensors[i].sizes()),
                 " at entry ", i);
    unsqueezed.push_back(tensors[i].unsqueeze(dim));
  }
  return cat(unsqueezed, dim);
}

Tensor index_select(const Tensor& x_in, int64_t dim_in, const Tensor& index_in) {
  check_same_device("index_select", {&x_in, &index_in});
  TANDEM_CHECK(index_in.dtype() == DType::Int64 || index_in.dtype() == DType::Int32,
               "index_select(): Expected dtype int32 or int64 for index");
  if (index_in.dtype() == DType::Int32)
    return index_select(x_in, dim_in, index_in.to(DType::Int64));
  TANDEM_CHECK(index_in.dim() <= 1, "index_select(): Index is supposed to be a vector");
  const int64_t dim = wrap_dim(dim_in, std::max<int64_t>(x_in.dim(), 1), "index_select");
  const Tensor x = x_in.contiguous();
  const Tensor index = index_in.reshape({-1}).contiguous();
  const Shape sizes = x.dim() == 0 ? Shape{1} : x.sizes();
  const kernels::Slab slab = slab_around(sizes, dim);
  const int64_t n_index = index.numel();
  Shape out_shape = sizes;
  out_shape[dim] = n_index;
  if (x.dim() == 0 && index_in.dim() == 0) out_shape = {};
  Tensor out = empty(out_shape, x.options());
  // The kernel checks the indices: on a GPU a bad one is thrown at the host's next wait
  // (kernels/common/bad_index.h).
  kernels::index_select(kernel_context(x), slab, buffer(x), buffer(index), n_index, buffer(out));
  const Shape in_shape = x_in.sizes();
  record("IndexSelectBackward0", {x_in}, {out}, {index},
         [in_shape, slab, n_index](const TensorList& g, const TensorList& s) {
           const Tensor grad = g[0].contiguous();
           Tensor gin = zeros(in_shape, grad.options());
           kernels::index_add(kernel_context(grad), slab, buffer(grad), buffer(s[0]), n_index,
                              buffer(gin));
           return TensorList{gin};
         });
  return out;
}

}  // namespace tandem
