// CUDA backend: device discovery always; tensor round trips and the elementwise kernels (which
// share their arithmetic with the CPU kernels) when a device is present.
#include <gtest/gtest.h>

#include "framework/ops/ops.h"
#include "kernels/device/runtime.h"

using namespace tandem;

namespace {
bool have_device() { return kernels::device::cuda_runtime().device_count() > 0; }
}  // namespace

TEST(Cuda, DeviceQueryNeverThrows) { EXPECT_GE(kernels::device::cuda_runtime().device_count(), 0); }

TEST(Cuda, NoDeviceGivesClearError) {
  if (have_device()) GTEST_SKIP() << "a CUDA device is present";
  EXPECT_THROW(zeros({2}, TensorOptions().with_device(Device("cuda:0"))), std::exception);
}

TEST(Cuda, RoundTripAndElementwiseMatchCpu) {
  if (!have_device()) GTEST_SKIP() << "no CUDA device";
  Generator gen(0);
  Tensor a = randn({4, 5}, gen), b = randn({5}, gen);
  Tensor ga = a.to(Device("cuda:0")), gb = b.to(Device("cuda:0"));
  EXPECT_TRUE(equal(ga.cpu(), a));
  EXPECT_TRUE(allclose((ga * gb + ga).exp().cpu(), (a * b + a).exp(), 1e-6, 1e-6));
  EXPECT_TRUE(allclose(clamp(ga, -0.5, 0.5).cpu(), clamp(a, -0.5, 0.5)));
}
