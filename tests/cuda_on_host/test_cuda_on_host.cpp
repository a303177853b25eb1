// The harness itself: the emulated device really runs the CUDA launchers here, and a block's
// threads meet at __syncthreads() and exchange values through warp shuffles as on a GPU.
#include <gtest/gtest.h>

#include <vector>

#include "framework/ops/ops.h"
#include "kernels/device/context.h"
#include "kernels/emulated/emulated_runtime.h"
#include "tests/cuda_on_host/cuda_on_host.h"
#include "tests/error_text.h"

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

// A bad index takes the CUDA kernels' own path (kernels/common/bad_index.h): recorded in the
// report, the element skipped, the error thrown once at the next wait; the device carries on, and
// the output holds what the kernel wrote around the bad element.
TEST(CudaOnHost, ABadIndexIsRecordedSkippedAndThrownAtTheNextWait) {
  if (!kernels::emulated::streams_are_async())
    GTEST_SKIP() << "TANDEM_EMULATED_STREAMS=sync runs each kernel, and throws, at its call";
  const Device cuda("cuda:0");
  const auto int64s = [&](std::vector<double> v) {
    const Shape shape{int64_t(v.size())};
    return from_vector(v, shape, TensorOptions(DType::Float64)).to(DType::Int64).to(cuda);
  };
  const Tensor x = arange(6, TensorOptions(DType::Float32)).reshape({3, 2}).to(cuda);
  const Tensor rows = index_select(x, 0, int64s({2, 7, 0}));  // queued: no wait, no throw
  EXPECT_TRUE(tandem::testing::throws_with(
      [&] { rows.cpu(); }, "index out of range in self (index 7 for a dim of size 3)"));
  EXPECT_EQ(rows.cpu().to_vector(), (std::vector<double>{4, 5, 0, 0, 0, 1}));  // a row of zeros
  // A bad target counts as ignored: the mean is over the good ones.
  const Tensor logits = (arange(9, TensorOptions(DType::Float32)) / 3).reshape({3, 3});
  const Tensor loss = cross_entropy(logits.to(cuda), int64s({1, 5, 2}));
  EXPECT_TRUE(tandem::testing::throws_with([&] { loss.cpu(); }, "Target 5 is out of bounds."));
  const Tensor good =
      cross_entropy(index_select(logits, 0, arange(0, 3, 2, TensorOptions(DType::Int64))),
                    from_vector(std::vector<double>{1, 2}, {2}).to(DType::Int64));
  EXPECT_NEAR(loss.item(), good.item(), 1e-6);
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
