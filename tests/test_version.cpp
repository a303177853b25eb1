// `tandem --version`: the library probes answer without a GPU, a driver or mpirun, and the report
// names the build, every library (built with / running with) and the devices or why there are none.
#include <gtest/gtest.h>

#include "kernels/cpu/blas_version.h"
#include "kernels/cuda/library_versions.h"
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
  for (const char* lib : {"NCCL", "OpenBLAS", "MPI", "built with", "running with"})
    EXPECT_TRUE(contains(r, lib)) << lib << " missing from:\n" << r;
  EXPECT_TRUE(contains(r, "devices:")) << r;
  if (kernels::cuda::cuda_report().devices.empty()) {
    EXPECT_TRUE(contains(r, "no CUDA device: ")) << r;
  } else {
    EXPECT_TRUE(contains(r, "cuda:0  ")) << r;
  }
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
  EXPECT_EQ(names, (std::vector<std::string>{"CUDA runtime", "CUDA driver", "cuBLAS", "cuBLASLt",
                                             "cuDNN", "cuRAND"}));
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
