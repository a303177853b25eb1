// Backend selection on 2-4 ranks (distributed.backend: auto | mpi | nccl) and the NCCL backend.
// Without a CUDA device the NCCL collective tests skip with the reason; building the NCCL group
// must then fail on every rank with an error naming the ranks, instead of hanging.
#include "framework/ops/ops.h"
#include "kernels/device/runtime.h"
#include "parallel/process_group_auto.h"
#include "parallel/process_group_nccl.h"
#include "tests/error_text.h"
#include "tests/mpi/mpi_main.h"

using namespace tandem;
using namespace tandem::parallel;

namespace {

const World& world() { return init_distributed(); }

// Every local rank needs its own GPU for NCCL tests (the emulated device has no NCCL).
bool emulated() { return kernels::device::cuda_is_emulated(); }
bool have_devices() {
  return !emulated() && kernels::device::cuda_runtime().device_count() >= world().local_size;
}
Device my_gpu() { return Device(DeviceType::CUDA, world().local_rank); }

using tandem::testing::error_text;

// A group that must never be built: CPU tensors stay on MPI.
struct CountingFactory {
  int calls = 0;
  std::shared_ptr<ProcessGroup> operator()() {
    ++calls;
    throw Error("the CUDA group was built for a CPU tensor");
  }
};

}  // namespace

TEST(Backends, CpuRunsUseMpiForAutoAndMpi) {
  EXPECT_EQ(make_process_group("auto", world(), kCPU), world().process_group);
  EXPECT_EQ(make_process_group("mpi", world(), kCPU), world().process_group);
}

TEST(Backends, MismatchedBackendAndDeviceNameTheKey) {
  EXPECT_NE(error_text([] {
              make_process_group("nccl", world(), kCPU);
            }).find("distributed.backend: nccl reduces CUDA tensors"),
            std::string::npos);
  if (emulated()) {
    EXPECT_NE(error_text([] {
                make_process_group("nccl", world(), my_gpu());
              }).find("distributed.backend: nccl needs a real GPU"),
              std::string::npos);
  } else {
    EXPECT_NE(error_text([] {
                make_process_group("mpi", world(), my_gpu());
              }).find("distributed.backend: mpi reduces CPU tensors"),
              std::string::npos);
  }
  EXPECT_NE(
      error_text([] { make_process_group("gloo", world(), kCPU); }).find("unknown backend 'gloo'"),
      std::string::npos);
}

TEST(Backends, AutoRoutesCpuTensorsToMpi) {
  auto counter = std::make_shared<CountingFactory>();
  ProcessGroupAuto pg(world().process_group, [counter] { return (*counter)(); });
  Tensor t = full({5}, double(world().rank + 1));
  pg.allreduce(t, ReduceOp::Sum)->wait();
  const int n = world().size;
  EXPECT_DOUBLE_EQ(t.to_vector()[4], n * (n + 1) / 2.0);
  Tensor b = full({3}, double(world().rank));
  pg.broadcast(b, n - 1)->wait();
  EXPECT_DOUBLE_EQ(b.to_vector()[0], n - 1);
  std::vector<Tensor> out;
  for (int r = 0; r < n; ++r) out.push_back(zeros({2}));
  pg.allgather(out, full({2}, double(world().rank * 10)))->wait();
  for (int r = 0; r < n; ++r) EXPECT_DOUBLE_EQ(out[size_t(r)].to_vector()[1], r * 10.0);
  pg.barrier()->wait();
  EXPECT_EQ(counter->calls, 0);
  EXPECT_FALSE(pg.cuda_group_created());
}

// The emulated CUDA device's tensors are all-reduced over MPI (staged through host memory).
TEST(Backends, EmulatedCudaTensorsUseMpi) {
  if (!emulated()) GTEST_SKIP() << "cuda is not the emulated device (TANDEM_EMULATE_CUDA unset)";
  if (kernels::device::cuda_runtime().device_count() < world().local_size)
    GTEST_SKIP() << "fewer emulated devices than local ranks";
  for (const char* backend : {"auto", "mpi"}) {
    auto pg = make_process_group(backend, world(), my_gpu());
    EXPECT_EQ(pg, world().process_group) << backend;
    const int r = world().rank, n = world().size;
    Tensor t = full({5}, double(r + 1)).to(my_gpu());
    pg->allreduce(t, ReduceOp::Sum)->wait();
    EXPECT_TRUE(t.is_cuda());
    EXPECT_DOUBLE_EQ(t.cpu().to_vector()[4], n * (n + 1) / 2.0);
    Tensor avg = full({3}, double(r)).to(my_gpu());
    pg->allreduce(avg, ReduceOp::Average)->wait();
    EXPECT_NEAR(avg.cpu().to_vector()[2], (n - 1) / 2.0, 1e-6);
    Tensor b = full({4}, double(r)).to(my_gpu());
    pg->broadcast(b, 0)->wait();
    EXPECT_DOUBLE_EQ(b.cpu().to_vector()[3], 0.0);
    std::vector<Tensor> out;
    for (int k = 0; k < n; ++k) out.push_back(zeros({2}).to(my_gpu()));
    pg->allgather(out, full({2}, double(r * 10)).to(my_gpu()))->wait();
    for (int k = 0; k < n; ++k) EXPECT_DOUBLE_EQ(out[size_t(k)].cpu().to_vector()[1], k * 10.0);
  }
}

TEST(Nccl, WithoutDevicesEveryRankFailsNamingTheRanks) {
  if (have_devices()) GTEST_SKIP() << "every rank has a CUDA device";
  const std::string e =
      error_text([] { make_process_group_nccl(*world().process_group, my_gpu()); });
  if (!nccl_available()) {
    EXPECT_NE(e.find("built without CUDA/NCCL"), std::string::npos) << e;
  } else {
    EXPECT_NE(e.find("rank " + std::to_string(world().rank) + ": NCCL"), std::string::npos) << e;
  }
  // distributed.backend: nccl builds the communicator at once, so the failure shows at start-up.
  EXPECT_THROW(make_process_group("nccl", world(), my_gpu()), std::exception);
  // The MPI group is still usable afterwards: nobody was left waiting inside NCCL.
  Tensor t = ones({1});
  world().process_group->allreduce(t, ReduceOp::Sum)->wait();
  EXPECT_DOUBLE_EQ(t.item(), world().size);
}

TEST(Nccl, CollectivesValuesDtypesAndSizes) {
  if (!nccl_available()) GTEST_SKIP() << "tandem was built without NCCL";
  if (!have_devices()) GTEST_SKIP() << "no CUDA device for every local rank";
  auto pg = make_process_group("nccl", world(), my_gpu());  // NCCL for CUDA tensors
  const int r = world().rank, n = world().size;
  for (DType dt : {DType::Float32, DType::Float64, DType::Int64, DType::Int32}) {
    for (int64_t len : {0, 1, 7, 1000003}) {
      Tensor t = full({len}, double(r + 1), TensorOptions(dt)).to(my_gpu());
      pg->allreduce(t, ReduceOp::Sum)->wait();
      Tensor m = full({len}, double(r + 1), TensorOptions(dt)).to(my_gpu());
      pg->allreduce(m, ReduceOp::Max)->wait();
      if (len == 0) continue;
      EXPECT_DOUBLE_EQ(t.cpu().to_vector()[size_t(len - 1)], n * (n + 1) / 2.0) << dtype_name(dt);
      EXPECT_DOUBLE_EQ(m.cpu().to_vector()[0], n) << dtype_name(dt);
    }
  }
  Tensor avg = full({9}, double(r)).to(my_gpu());
  pg->allreduce(avg, ReduceOp::Average)->wait();
  EXPECT_NEAR(avg.cpu().to_vector()[8], (n - 1) / 2.0, 1e-6);
  Tensor b = full({4}, double(r)).to(my_gpu());
  pg->broadcast(b, n - 1)->wait();
  EXPECT_DOUBLE_EQ(b.cpu().to_vector()[3], n - 1);
  std::vector<Tensor> out;
  for (int k = 0; k < n; ++k) out.push_back(zeros({3}).to(my_gpu()));
  pg->allgather(out, full({3}, double(r * 10)).to(my_gpu()))->wait();
  for (int k = 0; k < n; ++k) EXPECT_DOUBLE_EQ(out[size_t(k)].cpu().to_vector()[2], k * 10.0);
  pg->barrier()->wait();
}

TEST(Nccl, ManyConcurrentHandles) {
  if (!nccl_available()) GTEST_SKIP() << "tandem was built without NCCL";
  if (!have_devices()) GTEST_SKIP() << "no CUDA device for every local rank";
  auto pg = make_process_group("nccl", world(), my_gpu());  // NCCL for CUDA tensors
  std::vector<Tensor> ts;
  std::vector<std::shared_ptr<Work>> works;
  for (int k = 0; k < 64; ++k) ts.push_back(full({257}, double(k)).to(my_gpu()));
  for (auto& t : ts) works.push_back(pg->allreduce(t, ReduceOp::Sum));
  for (auto& w : works) w->wait();
  for (int k = 0; k < 64; ++k)
    EXPECT_DOUBLE_EQ(ts[size_t(k)].cpu().to_vector()[256], double(k) * world().size);
}

TEST(Nccl, AutoRoutesCudaTensorsToNccl) {
  if (!nccl_available()) GTEST_SKIP() << "tandem was built without NCCL";
  if (!have_devices()) GTEST_SKIP() << "no CUDA device for every local rank";
  auto pg = make_process_group("auto", world(), my_gpu());
  auto* autopg = dynamic_cast<ProcessGroupAuto*>(pg.get());
  ASSERT_NE(autopg, nullptr);
  Tensor cpu = ones({3});
  pg->allreduce(cpu, ReduceOp::Sum)->wait();
  EXPECT_FALSE(autopg->cuda_group_created());
  Tensor gpu = ones({3}).to(my_gpu());
  pg->allreduce(gpu, ReduceOp::Sum)->wait();
  EXPECT_TRUE(autopg->cuda_group_created());
  EXPECT_DOUBLE_EQ(gpu.cpu().to_vector()[0], world().size);
}

TANDEM_MPI_TEST_MAIN()
