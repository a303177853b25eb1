// CUDA backend: device discovery always; cuBLASLt opened at first use (CUDA builds); tensor round
// trips and the elementwise kernels (which share their arithmetic with the CPU kernels) when a
// device is present.
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "framework/ops/ops.h"
#include "kernels/device/runtime.h"
#ifdef TANDEM_WITH_CUDA
#include "kernels/cuda/cublaslt_library.h"
#endif

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

#ifdef TANDEM_WITH_CUDA
// cuBLASLt is opened at the first GPU matrix product, not linked (kernels/cuda/cublaslt_library.h):
// a process that loads tandem and never multiplies on a GPU does not pay its start-up cost.
TEST(CublasLt, IsNotLoadedUntilAMatrixProductNeedsIt) {
  // "threadsafe" re-executes this binary for the statement, so it sees a freshly started process.
  ::testing::GTEST_FLAG(death_test_style) = "threadsafe";
  EXPECT_EXIT(
      {
        const std::string soname = kernels::cuda::cublaslt_soname();
        std::_Exit(dlopen(soname.c_str(), RTLD_LAZY | RTLD_NOLOAD) ? 1 : 0);
      },
      ::testing::ExitedWithCode(0), "");
}

TEST(CublasLt, LoadsOnFirstUseWithEveryFunction) {
  const kernels::cuda::CublasLt& lt = kernels::cuda::cublaslt();
  EXPECT_NE(lt.path.find(kernels::cuda::cublaslt_soname()), std::string::npos) << lt.path;
  EXPECT_EQ(&lt, &kernels::cuda::cublaslt());  // once per process
  // Calls that need no device: the same major version as the headers, and a status's text.
  EXPECT_EQ(lt.cublasLtGetVersion() / 10000, size_t(CUBLAS_VER_MAJOR));
  EXPECT_STRNE(lt.cublasLtGetStatusString(CUBLAS_STATUS_NOT_INITIALIZED), "");
  EXPECT_NE(lt.cublasLtMatmul, nullptr);
}

TEST(CublasLt, AMissingLibraryIsAClearError) {
  try {
    kernels::cuda::load_cublaslt("libcublasLt.so.999");
    FAIL() << "loaded a library that does not exist";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("libcublasLt.so.999"), std::string::npos) << what;
    EXPECT_NE(what.find("LD_LIBRARY_PATH"), std::string::npos) << what;
  }
}
#endif
