// All-reduce throughput through tandem's ProcessGroup (ProcessGroupMPI: the collective is queued
// to the communication thread, Work::wait() blocks until it ran) against a plain
// MPI_Allreduce(MPI_IN_PLACE, ..., MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD) on the same buffer, for
// float32 messages of 4 KB to 64 MB. Run under mpirun:
//
//   mpirun -np 2 --bind-to core build/bench/bench_allreduce [--rounds R] [--seconds S]
//
// Per message size: warm-up, a barrier, then enough iterations for about S seconds (default 0.3);
// the time of one all-reduce is the mean over the iterations, and the reported time is the
// maximum of that mean over the ranks. All tandem measurements run first; the raw MPI ones run
// afterwards from the main thread, in a separate phase, once every tandem collective has been
// waited for: ProcessGroupMPI initialises MPI with MPI_THREAD_SERIALIZED and calls MPI on its own
// thread, so the two must never overlap. Both phases repeat R times (--rounds, default 3),
// alternating, and the lowest time per size and path is reported: on a machine shared with other
// work a round that other processes disturbed is discarded rather than averaged in.
//
// Rank 0 prints one JSON line per size: {"bench":"allreduce","device":"cpu","bytes":N,
// "tandem_ms":..,"mpi_ms":..,"tandem_GBps":..,"tandem_busbw_GBps":..,"mpi_GBps":..,
// "ratio_mpi_over_tandem":..}. GBps is the algorithmic bandwidth, bytes / time, in 1e9 bytes per
// second; busbw is nccl-tests' bus bandwidth for an all-reduce, algbw x 2(n-1)/n, which compares
// across rank counts (the link speed a ring achieves); the ratio is mpi_ms / tandem_ms (as in
// bench/run.sh: above 1 means tandem is faster, below 1 is tandem's overhead).
//
// --device cuda: float32 buffers on each rank's GPU (cuda:<local rank>), all-reduced by the process
// group a `device: cuda` run uses (distributed.backend auto: NCCL), each call timed to the end of
// the collective on the GPU (Work::wait, then the device synchronised); no raw-MPI comparison
// (MPI here cannot read GPU memory), and sizes up to 256 MB. bench/gpu/ddp_scaling.sh runs it.
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "framework/tensor/factories.h"
#include "kernels/device/context.h"
#include "parallel/distributed.h"
#include "parallel/mpi_check.h"
#include "parallel/process_group_auto.h"

using namespace tandem;
using Clock = std::chrono::steady_clock;

namespace {

// How one path (tandem or raw MPI) runs an all-reduce, a barrier and the agreement on a number.
struct Path {
  std::function<void(Tensor&)> allreduce;  // returns once the collective has completed
  std::function<void()> barrier;
  std::function<double(double)> max_over_ranks;
};

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// Mean seconds per all-reduce of `t` (max over ranks): warm-up, calibration, barrier, timed loop.
// Every rank runs the same number of iterations (agreed through max_over_ranks).
double time_allreduce(const Path& path, Tensor& t, double target_seconds) {
  for (int i = 0; i < 3; ++i) path.allreduce(t);  // warm-up (connections, page faults)
  path.barrier();
  const int probe = 3;
  auto t0 = Clock::now();
  for (int i = 0; i < probe; ++i) path.allreduce(t);
  const double per_call = path.max_over_ranks(seconds_since(t0) / probe);
  const int iters = int(std::clamp(std::ceil(target_seconds / std::max(per_call, 1e-7)), 5.0, 1e6));
  path.barrier();
  t0 = Clock::now();
  for (int i = 0; i < iters; ++i) path.allreduce(t);
  return path.max_over_ranks(seconds_since(t0) / iters);
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 3;
  double target_seconds = 0.3;
  std::string device_name = "cpu";
  int64_t max_bytes = int64_t(1) << 40;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--rounds" && i + 1 < argc) {
      rounds = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--seconds" && i + 1 < argc) {
      target_seconds = std::atof(argv[++i]);
    } else if (a == "--max-bytes" && i + 1 < argc) {
      max_bytes = std::atoll(argv[++i]);
    } else if (a == "--device" && i + 1 < argc &&
               (argv[i + 1] == std::string("cpu") || argv[i + 1] == std::string("cuda"))) {
      device_name = argv[++i];
    } else {
      std::fprintf(stderr,
                   "usage: mpirun -np N %s [--rounds R] [--seconds S] [--device cpu|cuda] "
                   "[--max-bytes B]\n",
                   argv[0]);
      return 2;
    }
  }
  const parallel::World& world = parallel::init_distributed();
  if (!world.process_group) {
    std::fprintf(stderr, "bench_allreduce: run under mpirun (e.g. mpirun -np 2 %s)\n", argv[0]);
    return 2;
  }
  auto pg = world.process_group;
  const bool on_gpu = device_name == "cuda";
  Device device = kCPU;
  std::shared_ptr<parallel::ProcessGroup> data_pg = pg;  // the group the buffers go through
  if (on_gpu) {
    try {
      device = parallel::select_device("cuda", world);
      kernels::device::set_current_device(device.index);
      data_pg = parallel::make_process_group("auto", world, device);
    } catch (const Error& e) {
      std::fprintf(stderr, "bench_allreduce: rank %d: %s\n", world.rank, e.what());
      parallel::abort_job(2);
    }
  }

  const Path tandem_path{[&](Tensor& t) {
                           data_pg->allreduce(t, parallel::ReduceOp::Sum)->wait();
                           if (on_gpu) kernels::device::synchronize(device.index);
                         },
                         [&] { pg->barrier()->wait(); },
                         [&](double v) {
                           Tensor x = from_vector(std::vector<double>{v}, {1},
                                                  TensorOptions(DType::Float64));
                           pg->allreduce(x, parallel::ReduceOp::Max)->wait();
                           return x.to_vector()[0];
                         }};
  // Called only from the main thread while no tandem collective is outstanding.
  const Path mpi_path{
      [](Tensor& t) {
        TANDEM_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, t.raw_data(), int(t.numel()), MPI_FLOAT,
                                       MPI_SUM, MPI_COMM_WORLD));
      },
      [] { TANDEM_MPI_CHECK(MPI_Barrier(MPI_COMM_WORLD)); },
      [](double v) {
        double m = 0;
        TANDEM_MPI_CHECK(MPI_Allreduce(&v, &m, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD));
        return m;
      }};

  std::vector<int64_t> sizes = {4 << 10, 16 << 10, 64 << 10, 256 << 10,
                                1 << 20, 4 << 20,  16 << 20, 64 << 20};
  if (on_gpu) sizes.push_back(256 << 20);  // NVLink needs large messages to reach its bandwidth
  std::erase_if(sizes,
                [&](int64_t bytes) { return bytes > std::max<int64_t>(max_bytes, 4 << 10); });
  // One buffer per size, shared by both paths. Zeros stay zeros under Sum (no overflow to inf,
  // no denormals), so every iteration does the same arithmetic.
  std::vector<Tensor> buffers;
  for (int64_t bytes : sizes)
    buffers.push_back(
        zeros({bytes / int64_t(sizeof(float))}, TensorOptions(DType::Float32, device)));
  std::vector<double> tandem_s(sizes.size(), INFINITY), mpi_s(sizes.size(), INFINITY);

  for (int r = 0; r < rounds; ++r) {
    // Phase 1: tandem's ProcessGroup. Every call waits, so nothing is in flight afterwards.
    for (size_t i = 0; i < sizes.size(); ++i)
      tandem_s[i] = std::min(tandem_s[i], time_allreduce(tandem_path, buffers[i], target_seconds));
    pg->barrier()->wait();
    if (on_gpu) continue;
    // Phase 2: raw MPI from the main thread (the communication thread is idle).
    for (size_t i = 0; i < sizes.size(); ++i)
      mpi_s[i] = std::min(mpi_s[i], time_allreduce(mpi_path, buffers[i], target_seconds));
    MPI_Barrier(MPI_COMM_WORLD);
  }

  if (world.rank == 0) {
    const double bus_factor = 2.0 * (world.size - 1) / world.size;  // nccl-tests' all-reduce
    for (size_t i = 0; i < sizes.size(); ++i) {
      const double b = double(sizes[i]), algbw = b / tandem_s[i] * 1e-9;
      std::printf(
          "{\"bench\":\"allreduce\",\"device\":\"%s\",\"ranks\":%d,\"bytes\":%lld,"
          "\"tandem_ms\":%.4f,\"tandem_GBps\":%.3f,\"tandem_busbw_GBps\":%.3f",
          device_name.c_str(), world.size, (long long)sizes[i], tandem_s[i] * 1e3, algbw,
          algbw * bus_factor);
      if (!on_gpu)
        std::printf(",\"mpi_ms\":%.4f,\"mpi_GBps\":%.3f,\"ratio_mpi_over_tandem\":%.3f",
                    mpi_s[i] * 1e3, b / mpi_s[i] * 1e-9, mpi_s[i] / tandem_s[i]);
      std::printf("}\n");
    }
    std::fflush(stdout);
  }
  parallel::shutdown_distributed();
  return 0;
}
