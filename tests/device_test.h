// Device-parametrised tests: the same test body runs on `cpu` and on `cuda`.
//
//   class SoftmaxOnDevice : public tandem::testing::DeviceTest {};
//   TEST_P(SoftmaxOnDevice, MatchesCpu) {
//     Tensor x = randn({4, 5}, gen).to(device());
//     ...
//   }
//   TANDEM_INSTANTIATE_DEVICE_TEST(SoftmaxOnDevice);   // SoftmaxOnDevice/MatchesCpu/cpu, .../cuda
//
// Both instances always exist, so test names do not depend on the machine. The cuda instance
// runs on whatever serves `cuda`: the emulated device in CI (ctest sets TANDEM_EMULATE_CUDA for
// every suite, see tests/CMakeLists.txt), a real GPU when a binary is run directly on one
// (tests/gpu/check.sh); with neither it is skipped with the reason.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <tuple>

#include "framework/tensor/tensor.h"
#include "kernels/device/runtime.h"

namespace tandem::testing {

inline const Device kCuda{DeviceType::CUDA, 0};

// Empty when `device` can run here, else why it cannot.
inline std::string unavailable(Device device) {
  if (device.is_cpu()) return {};
  auto& rt = kernels::device::cuda_runtime();
  if (rt.device_count() > device.index) return {};
  return "no " + device.str() + ": " + rt.unavailable_reason();
}

inline std::string device_name(Device d) { return d.is_cpu() ? "cpu" : "cuda"; }

class DeviceTest : public ::testing::TestWithParam<Device> {
 protected:
  void SetUp() override {
    const std::string why = unavailable(GetParam());
    if (!why.empty()) GTEST_SKIP() << why;
  }
  Device device() const { return GetParam(); }
};

}  // namespace tandem::testing

#define TANDEM_INSTANTIATE_DEVICE_TEST(suite)                                                    \
  INSTANTIATE_TEST_SUITE_P(, suite, ::testing::Values(::tandem::kCPU, ::tandem::testing::kCuda), \
                           [](const ::testing::TestParamInfo<::tandem::Device>& info) {          \
                             return ::tandem::testing::device_name(info.param);                  \
                           })
