// embedding and embedding_renorm_: the forward is the index_select kernel over the weight's rows,
// the backward the index_add kernel (its deterministic order is PyTorch's CPU order), with the
// options applied around them.
#include "framework/ops/embedding.h"

#include <cmath>
#include <map>
#include <set>

#include "framework/autograd/grad_mode.h"
#include "framework/autograd/node.h"
#include "framework/ops/elementwise.h"
#include "framework/ops/reduction.h"
#include "framework/ops/scalar_type.h"
#include "framework/ops/shape_ops.h"
#include "framework/tensor/factories.h"
#include "framework/tensor/kernel_args.h"
#include "kernels/kernel_table.h"

namespace tandem {

using autograd::record;
using autograd::TensorList;

namespace {

void check_indices(const Tensor& indices) {
  TANDEM_CHECK(indices.dtype() == DType::Int64 || indices.dtype() == DType::Int32,
               "Expected tensor for argument #1 'indices' to have one of the following scalar "
               "types: Long, Int; but got ",
               ops_detail::legacy_type_name(indices),
               " instead (while checking arguments for embedding)");
}

// The indices' values on the host, in order.
std::vector<int64_t> host_indices(const Tensor& indices) {
  const Tensor c = indices.cpu().to(DType::Int64).contiguous();
  return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}

// Per occurrence, 1 / (its index's count in the batch), rounded to the gradient's type as
// PyTorch's add_(grad, scale) rounds its alpha: a column to multiply the gradient's rows by.
Tensor frequency_scale(const Tensor& flat_indices, const TensorOptions& options) {
  const std::vector<int64_t> idx = host_indices(flat_indices);
  std::map<int64_t, int64_t> counts;
  for (int64_t i : idx) ++counts[i];
  std::vector<double> scale;
  scale.reserve(idx.size());
  for (int64_t i : idx) scale.push_back(1.0 / double(counts[i]));
  return from_vector(scale, {int64_t(idx.size()), 1}, TensorOptions(DType::Float64))
      .to(options.device, options.dtype);
}

}  // namespace

int64_t embedding_padding_index(int64_t padding_idx, int64_t num_embeddings) {
  TANDEM_CHECK(padding_idx < num_embeddings && padding_idx >= -num_embeddings,
               "Padding_idx must be within num_embeddings");
  return padding_idx < 0 ? padding_idx + num_embeddings : padding_idx;
}

Tensor& embedding_renorm_(Tensor& weight, const Tensor& indices, double max_norm,
                          double norm_type) {
  check_indices(indices);
  TANDEM_CHECK(weight.dim() == 2, "'weight' must be 2-D");
  const NoGradGuard no_grad;
  const std::set<int64_t> distinct = [&] {
    const std::vector<int64_t> idx = host_indices(indices);
    return std::set<int64_t>(idx.begin(), idx.end());
  }();
  if (distinct.empty()) return weight;
  const std::vector<int64_t> rows_picked(distinct.begin(), distinct.end());
  const Tensor rows = index_select(
      weight, 0, from_vector(rows_picked, {int64_t(rows_picked.size())}).to(weight.device()));
  // Each row's norm, as row.norm(norm_type): in the weight's type.
  const Tensor a = abs(rows);
  Tensor norms;
  if (norm_type == 2)
    norms = sqrt(sum(a * a, {1}));
  else if (norm_type == 1)
    norms = sum(a, {1});
  else if (std::isinf(norm_type) && norm_type > 0)
    norms = amax(a, {1});
  else
    norms = pow(sum(pow(a, norm_type), {1}), 1.0 / norm_type);
  const std::vector<double> norm = norms.cpu().to_vector();
  // A column of factors, 1 (which changes no bits) for the rows left alone.
  std::vector<double> factor(size_t(weight.size(0)), 1.0);
  bool any = false;
  for (size_t k = 0; k < rows_picked.size(); ++k)
    if (norm[k] > max_norm) {
      factor[size_t(rows_picked[k])] = max_norm / (norm[k] + 1e-7);
      any = true;
    }
  if (any)
    weight.mul_(from_vector(factor, {weight.size(0), 1}, TensorOptions(DType::Float64))
                    .to(weight.device(), weight.dtype()));
  return weight;
}

Tensor embedding(const Tensor& indices, const Tensor& weight, std::optional<int64_t> padding_idx,
                 std::optional<double> max_norm, double norm_type, bool scale_grad_by_freq) {
  // In F.embedding's order: padding_idx, then the renormalisation, then the op's own checks.
  std::optional<int64_t> pad;
  if (padding_idx)
    pad = embedding_padding_index(*padding_idx, weight.dim() > 0 ? weight.size(0) : 1);
  check_indices(indices);
  TANDEM_CHECK(weight.dim() == 2, "'weight' must be 2-D");
  check_same_device("embedding", {&weight, &indices});
  if (max_norm) {
    Tensor w = weight;
    embedding_renorm_(w, indices, *max_norm, norm_type);
  }
  const Tensor w = weight.contiguous();
  const Tensor flat = indices.to(DType::Int64).reshape({-1}).contiguous();
  const int64_t n = flat.numel(), V = w.size(0), D = w.size(1);
  Shape out_shape = indices.sizes();
  out_shape.push_back(D);
  Tensor out = empty(out_shape, w.options());
  const kernels::Slab slab = slab_around(w.sizes(), 0);
  // The kernel checks the indices ("index out of range in self"; on a GPU at the next wait).
  kernels::index_select(kernel_context(w), slab, buffer(w), buffer(flat), n, buffer(out));
  record("EmbeddingBackward0", {weight}, {out}, {flat},
         [slab, n, V, D, pad, scale_grad_by_freq](const TensorList& g, const TensorList& s) {
           Tensor grad = g[0].contiguous().reshape({n, D});
           if (scale_grad_by_freq) grad = grad * frequency_scale(s[0], grad.options());
           Tensor gw = zeros({V, D}, grad.options());
           kernels::index_add(kernel_context(grad), slab, buffer(grad), buffer(s[0]), n,
                              buffer(gw));
           if (pad) gw.narrow(0, *pad, 1).zero_();
           return TensorList{gw};
         });
  return out;
}

}  // namespace tandem
