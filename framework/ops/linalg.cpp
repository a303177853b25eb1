// Matrix products, of floating point matrices on every device and of integer ones on the CPU
// (with wraparound, as PyTorch's). Every product is one batched GEMM (the `gemm` kernel family)
// on 3-D strided operands: a matrix whose rows or columns are contiguous (incl. a transposed view,
// or a batch broadcast with stride 0) is passed as is with the transpose flag, so views need no
// copy. matmul reduces torch.matmul's cases to mm / bmm on views, whose backward sums broadcasts.
#include "framework/ops/linalg.h"

#include "framework/autograd/grad_mode.h"
#include "framework/autograd/node.h"
#include "framework/ops/autocast.h"
#include "framework/ops/elementwise.h"
#include "framework/ops/reduction.h"
#include "framework/ops/scalar_type.h"
#include "framework/tensor/factories.h"
#include "framework/tensor/kernel_args.h"
#include "kernels/kernel_table.h"

namespace tandem {

using autograd::record;
using autograd::TensorList;
using ops_detail::scalar_type_name;

namespace {

// One GEMM operand: a 3-D (batch, rows, cols) tensor readable by BLAS with a leading dim.
struct GemmOperand {
  Tensor t;  // keeps a contiguous copy alive when one was needed
  bool trans = false;
  int64_t ld = 1;
  int64_t batch_stride = 0;
};

GemmOperand gemm_operand(const Tensor& m) {
  const int64_t rows = m.size(1), cols = m.size(2);
  const Shape& st = m.strides();
  if ((st[2] == 1 || cols == 1) && st[1] >= std::max<int64_t>(1, cols))
    return {m, false, st[1], st[0]};
  if ((st[1] == 1 || rows == 1) && st[2] >= std::max<int64_t>(1, rows))
    return {m, true, st[2], st[0]};
  Tensor c = m.contiguous();
  return {c, false, std::max<int64_t>(1, cols), rows * cols};
}

// The PyTorch kernel a product runs (mm and addmm, bmm, mv, dot): its dtype errors name it.
enum class Product { Mm, Bmm, Mv, Dot };

// PyTorch's dtype rules for a product: both operands of one dtype, which is floating point or, on
// the CPU only, an integer type (multiplied in the type's own wraparound arithmetic; CUDA's
// kernels are floating point only, and neither device takes bool).
void check_matmul_dtypes(const Tensor& a, const Tensor& b, Product p) {
  static constexpr const char* kOp[] = {"mm", "bmm", "mv", "dot"};
  static constexpr const char* kKernel[][2] = {{"addmm_impl_cpu_", "addmm_cuda"},
                                               {"bmm", "bmm_cuda"},
                                               {"addmv_impl_cpu", "addmv_impl_cuda"},
                                               {"dot", "dot"}};
  check_same_device(kOp[int(p)], {&a, &b});
  const DType t = a.dtype();
  if (p == Product::Dot)
    TANDEM_CHECK(t == b.dtype(), "dot : expected both vectors to have same dtype, but found ",
                 scalar_type_name(t), " and ", scalar_type_name(b.dtype()));
  TANDEM_CHECK(t == b.dtype(), "expected scalar type ", scalar_type_name(t), " but found ",
               scalar_type_name(b.dtype()));
  const bool cuda = a.is_cuda();
  TANDEM_CHECK(is_floating(t) || (!cuda && t != DType::Bool), "\"", kKernel[int(p)][cuda],
               "\" not implemented for '", scalar_type_name(t), "'");
}

// (B, n, k) @ (B, k, p) -> contiguous (B, n, p), without autograd. With `bias` (p values), each
// output row starts as the bias and GEMM accumulates onto it (beta = 1): addmm in one pass.
Tensor bmm_kernel(const Tensor& a, const Tensor& b, const Tensor& bias = {}) {
  const int64_t batch = a.size(0), n = a.size(1), k = a.size(2), p = b.size(2);
  Tensor out = empty({batch, n, p}, a.options());
  if (out.numel() == 0) return out;
  if (bias.defined()) {
    NoGradGuard no_grad;
    out.copy_(bias);  // broadcast over rows
  } else if (k == 0) {
    return out.zero_();
  }
  if (k == 0) return out;
  const GemmOperand ga = gemm_operand(a), gb = gemm_operand(b);
  kernels::GemmShape shape;
  shape.trans_a = ga.trans;
  shape.trans_b = gb.trans;
  shape.m = n;
  shape.n = p;
  shape.k = k;
  shape.lda = ga.ld;
  shape.ldb = gb.ld;
  shape.ldc = p;
  shape.stride_a = ga.batch_stride;
  shape.stride_b = gb.batch_stride;
  shape.stride_c = n * p;
  shape.batch = batch;
  shape.beta = bias.defined() ? 1.0 : 0.0;
  // The operands are strided matrices (leading dims and batch strides in `shape`), so they are
  // passed by base address rather than through buffer(), which requires contiguity.
  kernels::gemm(kernel_context(out), shape, {ga.t.raw_data(), a.dtype()},
                {gb.t.raw_data(), b.dtype()}, buffer(out));
  return out;
}

[[noreturn]] void throw_shape_mismatch(const Tensor& a, const Tensor& b) {
  TANDEM_FAIL("mat1 and mat2 shapes cannot be multiplied (", a.size(-2), "x", a.size(-1), " and ",
              b.size(-2), "x", b.size(-1), ")");
}

// Batched product of 3-D tensors of equal batch size, differentiable.
Tensor bmm(const Tensor& a, const Tensor& b) {
  check_matmul_dtypes(a, b, Product::Bmm);
  if (a.size(2) != b.size(1)) throw_shape_mismatch(a, b);
  Tensor out = bmm_kernel(a, b);
  const bool need_a = a.requires_grad(), need_b = b.requires_grad();
  record("BmmBackward0", {a, b}, {out}, {need_a ? b : Tensor(), need_b ? a : Tensor()},
         [](const TensorList& g, const TensorList& s) {
           return TensorList{s[0].defined() ? bmm(g[0], s[0].transpose(1, 2)) : Tensor(),
                             s[1].defined() ? bmm(s[1].transpose(1, 2), g[0]) : Tensor()};
         });
  return out;
}

}  // namespace

Tensor mm(const Tensor& a, const Tensor& b) {
  if (const auto c = autocast::cast_operands(autocast::OpClass::Matmul, {&a, &b})) {
    const autocast::Suspend nested;
    return mm((*c)[0], (*c)[1]);
  }
  TANDEM_CHECK(a.dim() == 2, "self must be a matrix");
  TANDEM_CHECK(b.dim() == 2, "mat2 must be a matrix");
  check_matmul_dtypes(a, b, Product::Mm);
  if (a.size(1) != b.size(0)) throw_shape_mismatch(a, b);
  Tensor out = bmm_kernel(a.unsqueeze(0), b.unsqueeze(0)).squeeze(0);
  const bool need_a = a.requires_grad(), need_b = b.requires_grad();
  record("MmBackward0", {a, b}, {out}, {need_a ? b : Tensor(), need_b ? a : Tensor()},
         [](const TensorList& g, const TensorList& s) {
           return TensorList{s[0].defined() ? mm(g[0], s[0].t()) : Tensor(),
                             s[1].defined() ? mm(s[1].t(), g[0]) : Tensor()};
         });
  return out;
}

namespace {

// t as a matrix: its leading dims folded into rows (reshape's -1 cannot infer them when the last
// dim is 0, where PyTorch's linear and matmul still give rows of zeros or of the bias).
Tensor fold_leading_dims(const Tensor& t) {
  const Shape& sizes = t.sizes();
  const Shape leading(sizes.begin(), sizes.end() - 1);
  return t.reshape({shape_numel(leading), sizes.back()});
}

// x @ weight^T + bias for 2-D x and 1-D bias (linear's fused form: one GEMM that starts from the
// bias), differentiable. The backward gives the weight's gradient as g^T @ x, in the weight's own
// (out, in) layout as PyTorch's, so AccumulateGrad adopts that buffer as .grad instead of copying
// a transposed view into a new one every step.
Tensor linear_2d(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  const Tensor wt = weight.t();  // the GEMM reads the transpose in place
  // addmm(bias, x, wt)'s checks, in its order.
  check_same_device("addmm", {&bias, &x, &weight});
  TANDEM_CHECK(bias.dtype() == weight.dtype(), "self and mat2 must have the same dtype");
  TANDEM_CHECK(x.dtype() == weight.dtype(), "mat1 and mat2 must have the same dtype");
  check_matmul_dtypes(x, wt, Product::Mm);
  TANDEM_CHECK(bias.dim() == 1 && bias.size(0) == wt.size(1), "linear: bias of shape ",
               shape_str(bias.sizes()), " does not match ", wt.size(1), " output features");
  if (x.size(1) != wt.size(0)) throw_shape_mismatch(x, wt);
  Tensor out = bmm_kernel(x.unsqueeze(0), wt.unsqueeze(0), bias).squeeze(0);
  const bool need_x = x.requires_grad(), need_w = weight.requires_grad();
  record("AddmmBackward0", {bias, x, weight}, {out},
         {need_x ? weight : Tensor(), need_w ? x : Tensor()},
         [](const TensorList& g, const TensorList& s) {
           return TensorList{sum(g[0], {0}), s[0].defined() ? mm(g[0], s[0]) : Tensor(),
                             s[1].defined() ? mm(g[0].t(), s[1]) : Tensor()};
         });
  return out;
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  if (const auto c = autocast::cast_operands(autocast::OpClass::Matmul, {&a, &b})) {
    const autocast::Suspend nested;
    return matmul((*c)[0], (*c)[1]);
  }
  const int64_t da = a.dim(), db = b.dim();
  TANDEM_CHECK(da > 0 && db > 0, "both arguments to matmul need to be at least 1D, but they are ",
               da, "D and ", db, "D");
  // torch.matmul runs dot and mv for these, whose errors name them; mm serves both here.
  if (da == 1 && db == 1) check_matmul_dtypes(a, b, Product::Dot);
  if (da == 2 && db == 1) check_matmul_dtypes(a, b, Product::Mv);
  if (da == 1 && db == 1) {
    TANDEM_CHECK(a.size(0) == b.size(0), "inconsistent tensor size, expected tensor [", a.size(0),
                 "] and src [", b.size(0), "] to have the same number of elements, but got ",
                 a.size(0), " and ", b.size(0), " elements respectively");
    return mm(a.unsqueeze(0), b.unsqueeze(1)).reshape({});
  }
  if (da == 2 && db == 1) {
    TANDEM_CHECK(a.size(1) == b.size(0), "size mismatch, got ", a.size(0), ", ", a.size(0), "x",
                 a.size(1), ",", b.size(0));
    return mm(a, b.unsqueeze(1)).squeeze(1);
  }
  if (da == 1 && db == 2) return mm(a.unsqueeze(0), b).squeeze(0);
  if (da == 2 && db == 2) return mm(a, b);
  if (da >= 3 && db <= 2) {
    // Fold a's batch dims into its rows: one GEMM against the (shared) matrix b, as torch does.
    const Tensor m = db == 1 ? b.unsqueeze(1) : b;
    Shape out_shape(a.sizes().begin(), a.sizes().end() - 1);
    const Tensor folded = mm(fold_leading_dims(a), m);
    if (db == 2) out_shape.push_back(b.size(1));
    return folded.reshape(out_shape);
  }
  // General batched case: 1-D operands get a unit dim, batch dims broadcast.
  const Tensor a2 = da == 1 ? a.unsqueeze(0) : a;
  const Tensor b2 = db == 1 ? b.unsqueeze(1) : b;
  const int64_t n = a2.size(-2), k = a2.size(-1), k2 = b2.size(-2), p = b2.size(-1);
  const Shape batch_a(a2.sizes().begin(), a2.sizes().end() - 2);
  const Shape batch_b(b2.sizes().begin(), b2.sizes().end() - 2);
  const Shape batch = broadcast_shapes(batch_a, batch_b);
  const int64_t nb = shape_numel(batch);
  TANDEM_CHECK(k == k2, "Expected size for first two dimensions of batch2 tensor to be: [", nb,
               ", ", k, "] but got: [", nb, ", ", k2, "].");
  Shape ea = batch, eb = batch;
  ea.insert(ea.end(), {n, k});
  eb.insert(eb.end(), {k, p});
  Tensor out = bmm(a2.expand(ea).reshape({nb, n, k}), b2.expand(eb).reshape({nb, k, p}));
  Shape out_shape = batch;
  if (da > 1) out_shape.push_back(n);
  if (db > 1) out_shape.push_back(p);
  return out.reshape(out_shape);
}

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  if (const auto c = autocast::cast_operands(autocast::OpClass::Matmul, {&x, &weight, &bias})) {
    const autocast::Suspend nested;
    return linear((*c)[0], (*c)[1], (*c)[2]);
  }
  TANDEM_CHECK(weight.dim() == 2, "linear: weight must be 2-D (out_features, in_features), got ",
               shape_str(weight.sizes()));
  TANDEM_CHECK(x.dim() >= 1 && x.size(-1) == weight.size(1),
               "mat1 and mat2 shapes cannot be multiplied (",
               x.dim() >= 2 ? x.numel() / std::max<int64_t>(1, x.size(-1)) : 1, "x",
               x.dim() >= 1 ? x.size(-1) : 0, " and ", weight.size(1), "x", weight.size(0), ")");
  if (!bias.defined()) return matmul(x, weight.t());
  // Leading dims fold into rows: one GEMM with the bias as its starting value.
  Shape out_shape(x.sizes().begin(), x.sizes().end() - 1);
  out_shape.push_back(weight.size(0));
  return linear_2d(fold_leading_dims(x), weight, bias).reshape(out_shape);
}

}  // namespace tandem
