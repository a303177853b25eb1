// Tensor factories: empty, zeros, ones, full, arange, rand, randn, randperm, and construction
// from C++ values. Random factories draw from an explicit Generator (default: the global one).
#pragma once

#include <initializer_list>
#include <vector>

#include "framework/tensor/generator.h"
#include "framework/tensor/tensor.h"

namespace tandem {

Tensor empty(const Shape& shape, TensorOptions opts = {});
Tensor zeros(const Shape& shape, TensorOptions opts = {});
Tensor ones(const Shape& shape, TensorOptions opts = {});
Tensor full(const Shape& shape, double value, TensorOptions opts = {});
Tensor scalar_tensor(double value, TensorOptions opts = {});  // 0-dim
Tensor arange(double end, TensorOptions opts = TensorOptions(DType::Int64));
Tensor arange(double start, double end, double step = 1.0,
              TensorOptions opts = TensorOptions(DType::Int64));
// A CPU tensor in page-locked (pinned) memory, which CUDA copies to a device without staging
// (PyTorch's pin_memory). Throws when CUDA cannot pin memory (built without CUDA, no driver).
Tensor empty_pinned(const Shape& shape, DType dtype = DType::Float32);
Tensor empty_like(const Tensor& t);
Tensor zeros_like(const Tensor& t);
Tensor ones_like(const Tensor& t);
Tensor full_like(const Tensor& t, double value);

Tensor rand(const Shape& shape, Generator& gen, TensorOptions opts = {});   // U[0, 1)
Tensor randn(const Shape& shape, Generator& gen, TensorOptions opts = {});  // N(0, 1)
Tensor rand(const Shape& shape, TensorOptions opts = {});
Tensor randn(const Shape& shape, TensorOptions opts = {});
Tensor randperm(int64_t n, Generator& gen,
                TensorOptions opts = TensorOptions(DType::Int64));  // torch's order
Tensor randperm(int64_t n, TensorOptions opts = TensorOptions(DType::Int64));
// In-place random fills used by nn::init: U[low, high) and N(mean, std).
Tensor& uniform_(Tensor& t, double low, double high, Generator& gen);
Tensor& normal_(Tensor& t, double mean, double std, Generator& gen);

// From C++ values (row-major), e.g. from_vector({1, 2, 3, 4}, {2, 2}).
Tensor from_vector(const std::vector<double>& values, const Shape& shape, TensorOptions opts = {});
Tensor from_vector(const std::vector<float>& values, const Shape& shape, TensorOptions opts = {});
Tensor from_vector(const std::vector<int64_t>& values, const Shape& shape,
                   TensorOptions opts = TensorOptions(DType::Int64));
Tensor tensor(std::initializer_list<double> values, TensorOptions opts = {});  // 1-D

}  // namespace tandem
