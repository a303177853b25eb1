// `tandem --version`: the library probes answer without a GPU, a driver or mpirun, and the report
// names the build, every library (built with / running with) and the devices or why there are none.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "kernels/cpu/blas_version.h"
#include "kernels/cuda/library_versions.h"
#include "kernels/device/runtime.h"
#include "launch/version_report.h"
#include "parallel/library_versions.h"

using namespace tandem;

namespace {
bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}
}  // namespace

TEST(Version, ReportNamesBuildLibrariesAndDevices) {
  const std::string r =
      launch::version_report({"9.8.7", "0123456789ab", "Release", "GNU 12.2.0", "90"});
  EXPECT_TRUE(contains(r, "tandem 9.8.7 (commit 0123456789ab), Release build, GNU 12.2.0")) << r;
  for (const char* lib : {"NCCL", "OpenBLAS", "oneDNN", "MPI", "built with", "running with"})
    EXPECT_TRUE(contains(r, lib)) << lib << " missing from:\n" << r;
  EXPECT_TRUE(contains(r, "devices:")) << r;
  if (kernels::cuda::cuda_report().devices.empty()) {
    EXPECT_TRUE(contains(r, "no CUDA device: ")) << r;
  } else {
    EXPECT_TRUE(contains(r, "cuda:0  ")) << r;
  }
}

// Under TANDEM_EMULATE_CUDA (as ctest runs it) the emulated devices come first, then the real
// report; otherwise the real report alone.
TEST(Version, ReportListsEmulatedDevicesWhenTheyServeCuda) {
  const std::string r = launch::version_report({"1.0.0", "unknown", "Debug", "GNU", "90"});
  auto& rt = kernels::device::cuda_runtime();
  if (!kernels::device::cuda_is_emulated()) {
    EXPECT_FALSE(contains(r, "emulated")) << r;
    GTEST_SKIP() << "cuda is not emulated here: the real report alone";
  }
  const int n = rt.device_count();
  const std::string expected =
      "\ndevices: " + std::to_string(n) + " emulated CUDA device" + (n == 1 ? "" : "s") +
      " (TANDEM_EMULATE_CUDA=" + std::getenv("TANDEM_EMULATE_CUDA") + "), " +
      std::to_string(rt.memory_info(0).second >> 20) + " MiB" + (n == 1 ? "" : " each") + "\n";
  EXPECT_TRUE(contains(r, expected)) << "expected '" << expected << "' in:\n" << r;
  EXPECT_TRUE(contains(r, "\nreal CUDA devices (unused while cuda is emulated):")) << r;
  if (kernels::cuda::cuda_report().devices.empty()) {
    EXPECT_TRUE(contains(r, "emulated): none (no CUDA device: ")) << r;
  }
}

// A bad TANDEM_EMULATE_CUDA makes every cuda use an error, but --version still answers and says
// why (in a child: the setting is read once per process).
TEST(Version, ReportSurvivesABadEmulationSetting) {
  ::testing::GTEST_FLAG(death_test_style) = "threadsafe";
  EXPECT_EXIT(
      {
        setenv("TANDEM_EMULATE_CUDA", "two", 1);
        const std::string r = launch::version_report({"1.0.0", "unknown", "Debug", "GNU", "90"});
        std::fprintf(stderr, "%s", r.c_str());
        std::_Exit(0);
      },
      ::testing::ExitedWithCode(0),
      "\ndevices: none \\(TANDEM_EMULATE_CUDA='two' is not a device count\\)\nreal CUDA devices");
}

TEST(Version, CudaLibrariesAnswerWithoutADevice) {
  const kernels::cuda::CudaReport cuda = kernels::cuda::cuda_report();
#ifdef TANDEM_WITH_CUDA
  ASSERT_TRUE(cuda.built_with_cuda);
  std::vector<std::string> names;
  for (const auto& lib : cuda.libraries) {
    names.push_back(lib.name);
    EXPECT_FALSE(lib.built.empty()) << lib.name;
    EXPECT_FALSE(lib.running.empty()) << lib.name;
    if (lib.name != "CUDA driver") {
      // Same major version at run time as at build time (the sonames pin it).
      EXPECT_EQ(lib.running.substr(0, lib.running.find('.')),
                lib.built.substr(0, lib.built.find('.')))
          << lib.name << ": built " << lib.built << ", running " << lib.running;
      // A shared library, not linked into the executable (for the runtime: no cudart_static).
      EXPECT_FALSE(lib.location.empty()) << lib.name << " should come from a shared library";
    }
  }
  EXPECT_EQ(names, (std::vector<std::string>{"CUDA runtime", "CUDA driver", "cuBLASLt", "cuDNN",
                                             "cuRAND"}));
  const auto nccl = parallel::nccl_version();
  EXPECT_EQ(nccl.running.substr(0, 2), "2.") << nccl.running;
  EXPECT_EQ(nccl.built.substr(0, 2), "2.") << nccl.built;
#else
  EXPECT_FALSE(cuda.built_with_cuda);
  EXPECT_TRUE(cuda.libraries.empty());
  EXPECT_TRUE(contains(cuda.no_device_reason, "built without CUDA")) << cuda.no_device_reason;
  EXPECT_TRUE(contains(parallel::nccl_version().running, "not built in"));
#endif
  if (cuda.devices.empty()) {
    EXPECT_FALSE(cuda.no_device_reason.empty());
  }
  for (const auto& d : cuda.devices) {
    EXPECT_FALSE(d.name.empty());
    EXPECT_GT(d.total_memory, 0u);
    EXPECT_GT(d.major, 0);
  }
}

TEST(Version, OpenBlasAndMpiAnswerBeforeMpiInit) {
  const auto blas = kernels::cpu::openblas_version();
  EXPECT_FALSE(blas.built.empty());
  // The loaded library's version (from openblas_get_config()) first, then its build options.
  EXPECT_EQ(blas.running.substr(0, blas.running.find(' ')), blas.built) << blas.running;
  EXPECT_TRUE(contains(blas.running, " threads)")) << blas.running;
  const auto mpi = parallel::mpi_version();
  EXPECT_TRUE(contains(mpi.built, "MPI ")) << mpi.built;
  EXPECT_TRUE(contains(mpi.running, "MPI ")) << mpi.running;
  EXPECT_FALSE(mpi.location.empty());
}
