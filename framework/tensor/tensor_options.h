// TensorOptions: what a new tensor is made of (dtype, device, requires_grad), as
// torch::TensorOptions. The DType constructor is explicit: a dtype alone does not silently mean
// "on the CPU". Ops make outputs like their inputs with x.options().
//
//   zeros({2, 3}, x.options());                                   // x's dtype and device
//   zeros({2}, TensorOptions(DType::Int64).with_device(device));
#pragma once

#include "kernels/common/device.h"
#include "kernels/common/dtype.h"

namespace tandem {

struct TensorOptions {
  DType dtype = DType::Float32;
  Device device = kCPU;
  bool requires_grad = false;

  TensorOptions() = default;
  explicit TensorOptions(DType d) : dtype(d) {}
  TensorOptions(DType d, Device dev) : dtype(d), device(dev) {}

  TensorOptions with_dtype(DType d) const {
    auto o = *this;
    o.dtype = d;
    return o;
  }
  TensorOptions with_device(Device d) const {
    auto o = *this;
    o.device = d;
    return o;
  }
  TensorOptions with_requires_grad(bool r = true) const {
    auto o = *this;
    o.requires_grad = r;
    return o;
  }
};

}  // namespace tandem
