// Tensor factories, including the random ones with PyTorch's CPU draw order.
#include "framework/tensor/factories.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "framework/autograd/grad_mode.h"
#include "framework/core/checked_math.h"
#include "framework/core/object_pool.h"
#include "framework/tensor/random_fill.h"
#include "kernels/device/host_allocator.h"

namespace tandem {

namespace {

// Sizes may come from a config or a file: an overflowing product is an error, never a wrapped
// (small) allocation that later code writes past.
size_t checked_nbytes(const Shape& shape, DType dtype) {
  for (int64_t s : shape) TANDEM_CHECK(s >= 0, "negative dimension in shape ", shape_str(shape));
  const std::optional<int64_t> numel = checked_numel(shape);
  const std::optional<uint64_t> bytes =
      numel ? checked_bytes(*numel, element_size(dtype)) : std::nullopt;
  if (!bytes)
    throw Error("out of memory: a " + std::string(dtype_name(dtype)) + " tensor of shape " +
                    shape_str(shape) + " needs more bytes than any machine can address",
                "check the sizes in the config or the file (layer widths, batch size, shapes)");
  return size_t(*bytes);
}

Tensor contiguous_over(Storage storage, const Shape& shape, DType dtype) {
  return Tensor(std::allocate_shared<TensorImpl>(PoolAllocator<TensorImpl>(), std::move(storage),
                                                 shape, contiguous_strides(shape), 0, dtype));
}

}  // namespace

Tensor empty_pinned(const Shape& shape, DType dtype) {
  const size_t nbytes = checked_nbytes(shape, dtype);
  // From the pinned-memory cache: page-locking fresh memory for every batch would be slow.
  auto& pinned = kernels::device::pinned_host_allocator();
  void* data = pinned.allocate(nbytes);
  std::shared_ptr<void> owner(data,
                              [](void* p) { kernels::device::pinned_host_allocator().free(p); });
  return contiguous_over(std::allocate_shared<StorageImpl>(PoolAllocator<StorageImpl>(), data,
                                                           nbytes, kCPU, std::move(owner), true),
                         shape, dtype);
}

Tensor empty(const Shape& shape, TensorOptions opts) {
  const size_t nbytes = checked_nbytes(shape, opts.dtype);
  Tensor t = contiguous_over(
      std::allocate_shared<StorageImpl>(PoolAllocator<StorageImpl>(), nbytes, opts.device), shape,
      opts.dtype);
  if (opts.requires_grad) t.set_requires_grad(true);
  return t;
}

Tensor full(const Shape& shape, double value, TensorOptions opts) {
  const bool rg = opts.requires_grad;
  opts.requires_grad = false;
  Tensor t = empty(shape, opts);
  t.fill_(value);
  if (rg) t.set_requires_grad(true);
  return t;
}

Tensor zeros(const Shape& shape, TensorOptions opts) { return full(shape, 0.0, opts); }
Tensor ones(const Shape& shape, TensorOptions opts) { return full(shape, 1.0, opts); }
Tensor scalar_tensor(double value, TensorOptions opts) { return full({}, value, opts); }

Tensor arange(double end, TensorOptions opts) { return arange(0, end, 1, opts); }

Tensor arange(double start, double end, double step, TensorOptions opts) {
  TANDEM_CHECK(step != 0, "arange: step must be nonzero");
  const int64_t n = std::max<int64_t>(0, int64_t(std::ceil((end - start) / step)));
  Tensor cpu = empty({n}, TensorOptions(DType::Float64));
  double* p = cpu.data_ptr<double>();
  for (int64_t i = 0; i < n; ++i) p[i] = start + double(i) * step;
  return cpu.to(opts.device, opts.dtype);
}

Tensor empty_like(const Tensor& t) {
  return empty(t.sizes(), TensorOptions(t.dtype()).with_device(t.device()));
}
Tensor zeros_like(const Tensor& t) {
  return zeros(t.sizes(), TensorOptions(t.dtype()).with_device(t.device()));
}
Tensor ones_like(const Tensor& t) {
  return ones(t.sizes(), TensorOptions(t.dtype()).with_device(t.device()));
}
Tensor full_like(const Tensor& t, double v) {
  return full(t.sizes(), v, TensorOptions(t.dtype()).with_device(t.device()));
}

namespace {

// Random values are drawn on the host in float64 or float32 and moved to the target.
Tensor finish(Tensor host, const TensorOptions& opts) {
  Tensor t = host.to(opts.device, opts.dtype);
  if (opts.requires_grad) t.set_requires_grad(true);
  return t;
}

DType host_type(DType t) { return t == DType::Float64 ? DType::Float64 : DType::Float32; }

// An in-place random fill draws one value after another in the order torch's TensorIterator
// visits t's elements: memory order, i.e. its dimensions sorted by stride (outermost first), which
// for a contiguous tensor is the row-major order. The values are drawn on the host in that order
// (fill(data, n, contiguous)) and copied into t through the permuted view.
template <typename Fill>
void fill_in_memory_order(Tensor& t, const char* op, Fill fill) {
  Shape order(size_t(t.dim()));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return t.stride(a) > t.stride(b); });
  Tensor target = t.permute(order);
  Tensor host = empty(target.sizes(), TensorOptions(host_type(t.dtype())));
  dispatch_floating(host.dtype(), op, [&](auto tag) {
    using T = typename decltype(tag)::type;
    fill(host.data_ptr<T>(), host.numel(), t.is_contiguous());
  });
  target.copy_(host);
}

}  // namespace

Tensor rand(const Shape& shape, Generator& gen, TensorOptions opts) {
  Tensor host = empty(shape, TensorOptions(host_type(opts.dtype)));
  dispatch_floating(host.dtype(), "rand", [&](auto tag) {
    using T = typename decltype(tag)::type;
    uniform_fill(host.data_ptr<T>(), host.numel(), 0.0, 1.0, gen, pytorch_cpu_path());
  });
  return finish(host, opts);
}

Tensor randn(const Shape& shape, Generator& gen, TensorOptions opts) {
  Tensor host = empty(shape, TensorOptions(host_type(opts.dtype)));
  dispatch_floating(host.dtype(), "randn", [&](auto tag) {
    using T = typename decltype(tag)::type;
    normal_fill(host.data_ptr<T>(), host.numel(), 0.0, 1.0, /*contiguous=*/true, gen,
                pytorch_cpu_path());
  });
  return finish(host, opts);
}

Tensor rand(const Shape& shape, TensorOptions opts) {
  return rand(shape, default_generator(), opts);
}
Tensor randn(const Shape& shape, TensorOptions opts) {
  return randn(shape, default_generator(), opts);
}

Tensor randperm(int64_t n, Generator& gen, TensorOptions opts) {
  TANDEM_CHECK(n >= 0, "randperm: n must be non-negative, got ", n);
  TANDEM_CHECK(n < int64_t(UINT32_MAX / 20), "randperm: n = ", n,
               " is beyond the range tandem reproduces");
  Tensor host = empty({n}, TensorOptions(DType::Int64));
  int64_t* r = host.data_ptr<int64_t>();
  for (int64_t i = 0; i < n; ++i) r[i] = i;
  // randperm_cpu: for i in [0, n-1): z = random() % (n - i); swap(r[i], r[i + z]).
  for (int64_t i = 0; i + 1 < n; ++i) {
    const int64_t z = int64_t(gen.random() % uint64_t(n - i));
    std::swap(r[i], r[i + z]);
  }
  return finish(host, opts);
}

Tensor randperm(int64_t n, TensorOptions opts) { return randperm(n, default_generator(), opts); }

Tensor& uniform_(Tensor& t, double low, double high, Generator& gen) {
  NoGradGuard no_grad;
  fill_in_memory_order(t, "uniform_", [&](auto* p, int64_t n, bool) {
    uniform_fill(p, n, low, high, gen, pytorch_cpu_path());
  });
  return t;
}

Tensor& normal_(Tensor& t, double mean, double std, Generator& gen) {
  NoGradGuard no_grad;
  fill_in_memory_order(t, "normal_", [&](auto* p, int64_t n, bool contiguous) {
    normal_fill(p, n, mean, std, contiguous, gen, pytorch_cpu_path());
  });
  return t;
}

Tensor from_vector(const std::vector<double>& values, const Shape& shape, TensorOptions opts) {
  TANDEM_CHECK(int64_t(values.size()) == shape_numel(shape), "from_vector: ", values.size(),
               " values for shape ", shape_str(shape));
  Tensor host = empty(shape, TensorOptions(DType::Float64));
  std::copy(values.begin(), values.end(), host.data_ptr<double>());
  return finish(host, opts);
}

Tensor from_vector(const std::vector<float>& values, const Shape& shape, TensorOptions opts) {
  TANDEM_CHECK(int64_t(values.size()) == shape_numel(shape), "from_vector: ", values.size(),
               " values for shape ", shape_str(shape));
  Tensor host = empty(shape, TensorOptions(DType::Float32));
  std::copy(values.begin(), values.end(), host.data_ptr<float>());
  return finish(host, opts);
}

Tensor from_vector(const std::vector<int64_t>& values, const Shape& shape, TensorOptions opts) {
  TANDEM_CHECK(int64_t(values.size()) == shape_numel(shape), "from_vector: ", values.size(),
               " values for shape ", shape_str(shape));
  Tensor host = empty(shape, TensorOptions(DType::Int64));
  std::copy(values.begin(), values.end(), host.data_ptr<int64_t>());
  return finish(host, opts);
}

Tensor tensor(std::initializer_list<double> values, TensorOptions opts) {
  return from_vector(std::vector<double>(values), {int64_t(values.size())}, opts);
}

}  // namespace tandem
