// Tensor factories, including the random ones with PyTorch's CPU draw order.
#include "framework/tensor/factories.h"

#include <cmath>

#include "framework/autograd/grad_mode.h"
#include "framework/core/checked_math.h"
#include "framework/core/object_pool.h"
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

// torch's normal_fill: uniforms first, then Box-Muller on pairs (i, i+8) in blocks of 16; a
// ragged tail recomputes the last 16 from fresh uniforms.
template <typename T>
void normal_fill(T* data, int64_t size, double mean, double std, Generator& gen) {
  auto uniform = [&]() -> T {
    if constexpr (std::is_same_v<T, float>)
      return gen.uniform_float();
    else
      return T(gen.uniform_double());
  };
  auto fill16 = [&](T* d) {
    for (int j = 0; j < 8; ++j) {
      const T u1 = 1 - d[j];
      const T u2 = d[j + 8];
      const T radius = std::sqrt(-2 * std::log(u1));
      const T theta = T(2.0 * M_PI) * u2;
      d[j] = radius * std::cos(theta) * T(std) + T(mean);
      d[j + 8] = radius * std::sin(theta) * T(std) + T(mean);
    }
  };
  for (int64_t i = 0; i < size; ++i) data[i] = uniform();
  for (int64_t i = 0; i + 16 <= size; i += 16) fill16(data + i);
  if (size % 16 != 0) {
    T* tail = data + size - 16;
    for (int i = 0; i < 16; ++i) tail[i] = uniform();
    fill16(tail);
  }
}

template <typename T>
void fill_uniform(T* p, int64_t n, double low, double high, Generator& gen) {
  for (int64_t i = 0; i < n; ++i) {
    if constexpr (std::is_same_v<T, float>) {
      const double x = double(gen.random() & ((1u << 24) - 1)) * (1.0 / double(1u << 24));
      p[i] = float(x * (high - low) + low);
    } else {
      p[i] = gen.uniform_double() * (high - low) + low;
    }
  }
}

template <typename T>
void fill_normal(T* p, int64_t n, double mean, double std, Generator& gen) {
  if (n >= 16) {
    normal_fill(p, n, mean, std, gen);
  } else {
    for (int64_t i = 0; i < n; ++i) p[i] = T(gen.normal() * std + mean);
  }
}

DType host_type(DType t) { return t == DType::Float64 ? DType::Float64 : DType::Float32; }

}  // namespace

Tensor rand(const Shape& shape, Generator& gen, TensorOptions opts) {
  Tensor host = empty(shape, TensorOptions(host_type(opts.dtype)));
  dispatch_floating(host.dtype(), "rand", [&](auto tag) {
    using T = typename decltype(tag)::type;
    fill_uniform(host.data_ptr<T>(), host.numel(), 0.0, 1.0, gen);
  });
  return finish(host, opts);
}

Tensor randn(const Shape& shape, Generator& gen, TensorOptions opts) {
  Tensor host = empty(shape, TensorOptions(host_type(opts.dtype)));
  dispatch_floating(host.dtype(), "randn", [&](auto tag) {
    using T = typename decltype(tag)::type;
    fill_normal(host.data_ptr<T>(), host.numel(), 0.0, 1.0, gen);
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
  Tensor host = empty(t.sizes(), TensorOptions(host_type(t.dtype())));
  dispatch_floating(host.dtype(), "uniform_", [&](auto tag) {
    using T = typename decltype(tag)::type;
    fill_uniform(host.data_ptr<T>(), host.numel(), low, high, gen);
  });
  t.copy_(host);
  return t;
}

Tensor& normal_(Tensor& t, double mean, double std, Generator& gen) {
  NoGradGuard no_grad;
  Tensor host = empty(t.sizes(), TensorOptions(host_type(t.dtype())));
  dispatch_floating(host.dtype(), "normal_", [&](auto tag) {
    using T = typename decltype(tag)::type;
    fill_normal(host.data_ptr<T>(), host.numel(), mean, std, gen);
  });
  t.copy_(host);
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
