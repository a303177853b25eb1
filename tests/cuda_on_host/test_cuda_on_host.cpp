// The harness itself: the emulated device really runs the CUDA launchers here, and a block's
// threads meet at __syncthreads() and exchange values through warp shuffles as on a GPU.
#include <gtest/gtest.h>

#include <vector>

#include "framework/ops/ops.h"
#include "kernels/device/context.h"
#include "tests/cuda_on_host/cuda_on_host.h"

namespace {

using namespace tandem;

TEST(CudaOnHost, DeviceOpsRunTheCudaLaunchers) {
  const uint64_t before = cuda_on_host::launches.load();
  const Tensor x = arange(12, TensorOptions(DType::Float32)).reshape({3, 4}).to(Device("cuda:0"));
  const Tensor y = softmax(x, 1).cpu();
  EXPECT_GT(cuda_on_host::launches.load(), before);
  EXPECT_NEAR(y.sum().item(), 3.0, 1e-6);
}

// The kernels' scratch memory (kernels/cuda/reduce.cu's partials, FloatStaging's float32 blocks)
// is host memory here, and every block is freed by the launcher that took it.
TEST(CudaOnHost, KernelsTakeAndFreeScratchMemory) {
  auto& scratch = kernels::cuda_on_host::device::device_allocator();
  const Device cuda("cuda:0");
  const Tensor v = arange(100000, TensorOptions(DType::Float64));
  size_t before = scratch.allocated();
  EXPECT_EQ(v.to(cuda).sum().item(), 4999950000.0);  // partials, then their sum
  EXPECT_GT(scratch.allocated(), before);
  const Tensor h = (arange(12, TensorOptions(DType::Float32)) / 4).reshape({3, 4});
  before = scratch.allocated();
  const Tensor y = softmax(h.to(DType::Float16).to(cuda), 1).cpu();  // staged through float32
  EXPECT_GT(scratch.allocated(), before);
  EXPECT_EQ(y.dtype(), DType::Float16);
  EXPECT_NEAR(y.to(DType::Float32).sum().item(), 3.0, 3e-3);
  EXPECT_EQ(scratch.live(), 0u);  // the launchers ran before the copies that waited for them
}

TEST(CudaOnHost, ThreadsMeetAtBarriersAndShuffle) {
  std::vector<int> seen(64, -1);
  std::vector<int> partner(64, -1);
  cuda_on_host::run_grid(dim3(2), dim3(32), 32 * sizeof(int), [&] {
    int* shared = reinterpret_cast<int*>(cuda_on_host::dynamic_shared_bytes());
    const unsigned t = threadIdx.x;
    shared[t] = int(blockIdx.x * 100 + t);
    __syncthreads();  // every thread of the block has written its slot
    seen[blockIdx.x * 32 + t] = shared[31 - t];
    partner[blockIdx.x * 32 + t] = __shfl_xor_sync(0xffffffffu, int(t), 1);
  });
  for (int b = 0; b < 2; ++b)
    for (int t = 0; t < 32; ++t) {
      EXPECT_EQ(seen[b * 32 + t], b * 100 + 31 - t);
      EXPECT_EQ(partner[b * 32 + t], t ^ 1);
    }
}

TEST(CudaOnHost, AKernelsExceptionReachesTheLaunch) {
  EXPECT_THROW(cuda_on_host::run_grid(dim3(1), dim3(8), 0,
                                      [] {
                                        if (threadIdx.x == 3) throw Error("thread 3");
                                      }),
               Error);
}

}  // namespace
