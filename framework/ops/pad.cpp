// pad: constant padding crops with narrow (negative pads) and concatenates filled blocks;
// reflect, replicate and circular padding gather along each padded dim with index_select, using
// the source position of every output position. Both are compositions of differentiable ops, so
// the backward comes with them (index_select's sums the gradient of every copy).
#include "framework/ops/pad.h"

#include <algorithm>

#include "framework/ops/shape_ops.h"
#include "framework/tensor/factories.h"

namespace tandem {
namespace {

// The names PyTorch's pad errors give the last three dims.
const char* dim_letter(size_t from_last) {
  return from_last == 0 ? "W" : from_last == 1 ? "H" : "D";
}

// The input position that output position `i + before` copies, for an input dim of size n.
int64_t source_index(const std::string& mode, int64_t i, int64_t n) {
  if (mode == "reflect") return i < 0 ? -i : i >= n ? 2 * (n - 1) - i : i;
  if (mode == "replicate") return std::clamp<int64_t>(i, 0, n - 1);
  return ((i % n) + n) % n;  // circular
}

Tensor constant_pad(const Tensor& x, const std::vector<int64_t>& pads, double value) {
  Tensor out = x;
  for (size_t i = 0; i < pads.size() / 2; ++i) {
    const int64_t dim = x.dim() - 1 - int64_t(i);
    const int64_t before = pads[2 * i], after = pads[2 * i + 1];
    const int64_t size = x.size(dim);
    TANDEM_CHECK(size + before + after >= 0, "The input size ", size, ", plus negative padding ",
                 before, " and ", after,
                 " resulted in a negative output size, which is invalid. Check dimension ", dim,
                 " of your input.");
    if (before < 0) out = out.narrow(dim, -before, out.size(dim) + before);
    if (after < 0) out = out.narrow(dim, 0, out.size(dim) + after);
    std::vector<Tensor> parts;
    Shape block = out.sizes();
    if (before > 0) {
      block[dim] = before;
      parts.push_back(full(block, value, out.options()));
    }
    parts.push_back(out);
    if (after > 0) {
      block[dim] = after;
      parts.push_back(full(block, value, out.options()));
    }
    if (parts.size() > 1) out = cat(parts, dim);
  }
  return out;
}

Tensor gather_pad(const Tensor& x, const std::vector<int64_t>& pads, const std::string& mode) {
  const int64_t k = int64_t(pads.size() / 2);
  TANDEM_CHECK(k >= 1 && k <= 3 && x.dim() >= k + 1 && x.dim() <= k + 2,
               "Only 2D, 3D, 4D, 5D padding with non-constant padding are supported for now");
  for (int64_t d = x.dim() == k + 2 ? 1 : 0; d < x.dim(); ++d)
    TANDEM_CHECK(x.size(d) != 0, "Expected ", k + 1, "D or ", k + 2,
                 "D (batch mode) tensor with possibly 0 batch size and other non-zero dimensions "
                 "for input, but got: ",
                 shape_str(x.sizes()));
  Tensor out = x;
  for (int64_t i = 0; i < k; ++i) {
    const int64_t dim = x.dim() - 1 - i;
    int64_t before = pads[2 * i], after = pads[2 * i + 1];
    int64_t n = x.size(dim);
    if (mode == "circular" && (before < 0 || after < 0)) {
      // PyTorch 1.13's _pad_circular crops first, then wraps what is left: (-1, 2) on
      // [0 1 2 3 4 5] gives [1 2 3 4 5 1 2].
      const int64_t crop_before = std::max<int64_t>(0, -before);
      const int64_t crop_after = std::max<int64_t>(0, -after);
      TANDEM_CHECK(n - crop_before - crop_after > 0, "input (", dim_letter(size_t(i)), ": ", n,
                   ") is too small. Calculated output ", dim_letter(size_t(i)), ": ",
                   n + before + after);
      out = out.narrow(dim, crop_before, n - crop_before - crop_after);
      n -= crop_before + crop_after;
      before = std::max<int64_t>(0, before);
      after = std::max<int64_t>(0, after);
    }
    if (mode == "reflect")
      TANDEM_CHECK(before < n && after < n, "Argument #", 4 + 2 * i,
                   ": Padding size should be less than the corresponding input dimension, but "
                   "got: padding (",
                   before, ", ", after, ") at dimension ", dim, " of input ", shape_str(x.sizes()));
    if (mode == "circular")
      TANDEM_CHECK(before <= n && after <= n,
                   "Padding value causes wrapping around more than once.");
    const int64_t out_n = n + before + after;
    TANDEM_CHECK(out_n > 0, "input (", dim_letter(size_t(i)), ": ", n,
                 ") is too small. Calculated output ", dim_letter(size_t(i)), ": ", out_n);
    std::vector<int64_t> index(static_cast<size_t>(out_n));
    for (int64_t j = 0; j < out_n; ++j) index[size_t(j)] = source_index(mode, j - before, n);
    out = index_select(out, dim, from_vector(index, {out_n}).to(x.device()));
  }
  return out;
}

}  // namespace

Tensor pad(const Tensor& x, const std::vector<int64_t>& pads, const std::string& mode,
           std::optional<double> value) {
  TANDEM_CHECK(pads.size() % 2 == 0, "Padding length must be divisible by 2");
  TANDEM_CHECK(int64_t(pads.size()) / 2 <= x.dim(), "Padding length too large");
  if (mode == "constant") return constant_pad(x, pads, value.value_or(0.0));
  TANDEM_CHECK(mode == "reflect" || mode == "replicate" || mode == "circular",
               "Unrecognised padding mode ", mode,
               " (tandem pads with constant, reflect, replicate or circular)");
  TANDEM_CHECK(!value || *value == 0, "Padding mode \"", mode, "\" doesn't take in value argument");
  return gather_pad(x, pads, mode);
}

}  // namespace tandem
