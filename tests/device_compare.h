// Comparing what a device computed with what the CPU computed, for the device-parametrised
// suites above the ops (nn, optim, io, data, DDP):
//
//   EXPECT_TRUE(matches_cpu(on_device.grad(), on_cpu.grad(), device(), "conv1.weight grad"));
//
// Where `device` runs the CPU kernels (the CPU itself, the emulated CUDA device) the result must
// be bit-identical; on a real GPU it must agree within a per-dtype tolerance relative to the
// reference's scale (GPU kernels sum in another order). Integer and bool results are exact
// everywhere.
//
// StackDeviceTest: a DeviceTest for the suites above the ops (nn, optim, io, training, DDP), which
// need the device's whole kernel table. On a device whose backend is not complete yet (a real GPU
// before all its CUDA kernels land) the instance is skipped naming the missing kernel families,
// rather than failing at the first op without a kernel.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>

#include "framework/tensor/tensor.h"
#include "kernels/device/runtime.h"
#include "kernels/kernel_table.h"
#include "tests/device_test.h"

namespace tandem::testing {

// True when results on `device` must equal the CPU's bit for bit: on the CPU, and on the
// emulated device unless it runs the CUDA kernels' code (tests/cuda_on_host).
inline bool bit_identical_on(Device device) {
  return device.is_cpu() ||
         (kernels::device::cuda_is_emulated() && !std::getenv("TANDEM_CUDA_KERNELS_ON_HOST"));
}

// Relative tolerance of a `dtype` result on a real GPU (0: exact).
inline double gpu_rtol(DType dtype) {
  switch (dtype) {
    case DType::Float64:
      return 1e-10;
    case DType::Float32:
      return 1e-4;
    case DType::Float16:
    case DType::BFloat16:
      return 1e-2;
    default:
      return 0;
  }
}

// `got` (any device) equals `ref` (any device): same dtype and shape, and the same bytes where
// `device` is bit-identical to the CPU, else |got - ref| <= rtol * max(|ref|) elementwise.
// `scale_rtol` widens the GPU tolerance for results that went through many layers.
inline ::testing::AssertionResult matches_cpu(const Tensor& got, const Tensor& ref, Device device,
                                              const std::string& what = "", double scale_rtol = 1) {
  if (!got.defined() || !ref.defined()) {
    if (got.defined() == ref.defined()) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure()
           << what << ": " << (got.defined() ? "the reference" : "the result") << " is undefined";
  }
  if (got.dtype() != ref.dtype())
    return ::testing::AssertionFailure()
           << what << ": dtype " << dtype_name(got.dtype()) << " != " << dtype_name(ref.dtype());
  if (got.sizes() != ref.sizes())
    return ::testing::AssertionFailure()
           << what << ": shape " << shape_str(got.sizes()) << " != " << shape_str(ref.sizes());
  const Tensor a = got.cpu().contiguous(), b = ref.cpu().contiguous();
  const bool exact = bit_identical_on(device) || gpu_rtol(got.dtype()) == 0;
  if (exact && std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) == 0)
    return ::testing::AssertionSuccess();
  const std::vector<double> x = a.to_vector(), y = b.to_vector();
  double scale = 0;
  for (double v : y) scale = std::max(scale, std::abs(v));
  const double tol = exact ? 0 : gpu_rtol(got.dtype()) * scale_rtol * std::max(scale, 1e-30);
  size_t worst = 0, bad = 0;
  double worst_diff = -1;
  for (size_t i = 0; i < x.size(); ++i) {
    const double d = std::abs(x[i] - y[i]);
    const bool differs = exact ? std::memcmp(&x[i], &y[i], sizeof(double)) != 0 : !(d <= tol);
    if (!differs) continue;
    ++bad;
    if (!(d <= worst_diff)) worst = i, worst_diff = d;
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << what << " on " << device.str() << ": " << bad << " of " << x.size() << " elements "
         << (exact ? "differ from the CPU's (bit-identical expected)" : "exceed the tolerance ")
         << (exact ? "" : std::to_string(tol)) << "; worst #" << worst << ": " << x[worst] << " vs "
         << y[worst];
}

// Every tensor of two state_dicts (or named lists) matches.
template <typename Named>
::testing::AssertionResult all_match_cpu(const Named& got, const Named& ref, Device device,
                                         const std::string& what, double scale_rtol = 1) {
  if (got.size() != ref.size())
    return ::testing::AssertionFailure()
           << what << ": " << got.size() << " entries vs " << ref.size();
  auto g = got.begin();
  auto r = ref.begin();
  for (; g != got.end(); ++g, ++r) {
    if (g->first != r->first)
      return ::testing::AssertionFailure() << what << ": key " << g->first << " vs " << r->first;
    auto res = matches_cpu(g->second, r->second, device, what + " " + g->first, scale_rtol);
    if (!res) return res;
  }
  return ::testing::AssertionSuccess();
}

// The kernel families (kernels/kernel_table.h) that backend `b` lacks, comma-separated; empty
// when it is complete.
inline std::string missing_kernel_families(kernels::Backend b) {
  namespace k = ::tandem::kernels;
  std::string missing;
  auto need = [&](const auto&... families) {
    ((missing += families.has(b) ? "" : std::string(missing.empty() ? "" : ", ") + families.name()),
     ...);
  };
  need(k::unary, k::binary, k::compare, k::where, k::copy, k::fill, k::sum_reduce, k::max_reduce,
       k::max_along, k::gemm, k::conv2d_forward, k::conv2d_backward_input,
       k::conv2d_backward_weight, k::max_pool2d_forward, k::max_pool2d_backward,
       k::avg_pool2d_forward, k::avg_pool2d_backward, k::adaptive_avg_pool2d_forward,
       k::adaptive_avg_pool2d_backward, k::upsample_nearest2d_forward,
       k::upsample_nearest2d_backward, k::upsample_bilinear2d_forward,
       k::upsample_bilinear2d_backward, k::batch_norm_stats, k::batch_norm_apply,
       k::batch_norm_backward, k::softmax_forward, k::softmax_backward, k::nll_forward,
       k::nll_backward, k::index_select, k::index_add, k::scatter_along, k::sgd_step, k::adam_step);
  need(k::adaptive_max_pool2d_forward, k::adaptive_max_pool2d_backward, k::max_unpool2d_forward,
       k::max_unpool2d_backward);
  return missing;
}

// Why `device` cannot run the suites above the ops here (empty when it can).
inline std::string stack_unavailable(Device device) {
  std::string why = unavailable(device);
  if (!why.empty()) return why;
  const std::string missing = missing_kernel_families(kernels::backend_of(device));
  if (missing.empty()) return {};
  return device.str() + " has no " + kernels::backend_name(kernels::backend_of(device)) +
         " kernel for " + missing + " yet";
}

class StackDeviceTest : public ::testing::TestWithParam<Device> {
 protected:
  void SetUp() override {
    const std::string why = stack_unavailable(GetParam());
    if (!why.empty()) GTEST_SKIP() << why;
  }
  Device device() const { return GetParam(); }
};

}  // namespace tandem::testing
