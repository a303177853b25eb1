// MPI initialisation and rank discovery.
#include "parallel/distributed.h"

#include <mpi.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include <unistd.h>

#include "kernels/device/context.h"
#include "parallel/mpi_check.h"
#include "parallel/process_group_mpi.h"

namespace tandem::parallel {
namespace {
World& world_storage() {
  static World w;
  return w;
}
bool initialised = false;
}  // namespace

bool launched_by_mpirun() {
  return std::getenv("OMPI_COMM_WORLD_SIZE") || std::getenv("PMI_SIZE") || std::getenv("PMIX_RANK");
}

const World& init_distributed() {
  World& w = world_storage();
  if (initialised) return w;
  initialised = true;
  if (!launched_by_mpirun()) return w;
  int flag = 0;
  MPI_Initialized(&flag);
  if (!flag) {
    // A rank's communication thread shares the rank's core with the compute thread (tandem-run
    // binds one core per rank), and Open MPI's blocking collectives busy-poll: while a bucket's
    // all-reduce waits for a slower peer it would take the core from the backward pass it is
    // meant to overlap. Yielding while idle hands the core back. A user's own setting wins.
    setenv("OMPI_MCA_mpi_yield_when_idle", "1", /*overwrite=*/0);
    int provided = 0;
    TANDEM_MPI_CHECK(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided));
    if (provided < MPI_THREAD_SERIALIZED)
      throw Error("MPI provides thread level " + std::to_string(provided) +
                  ", tandem needs MPI_THREAD_SERIALIZED");
  }
  TANDEM_MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &w.rank));
  TANDEM_MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &w.size));
  MPI_Comm local;
  TANDEM_MPI_CHECK(
      MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, w.rank, MPI_INFO_NULL, &local));
  TANDEM_MPI_CHECK(MPI_Comm_rank(local, &w.local_rank));
  TANDEM_MPI_CHECK(MPI_Comm_size(local, &w.local_size));
  MPI_Comm_free(&local);
  w.process_group = std::make_shared<ProcessGroupMPI>();
  return w;
}

void shutdown_distributed() {
  World& w = world_storage();
  w.process_group.reset();  // joins the communication thread first
  int init = 0, fin = 0;
  MPI_Initialized(&init);
  MPI_Finalized(&fin);
  if (init && !fin) MPI_Finalize();
}

namespace {
// MPI_Abort when this process is one rank of several; returns otherwise.
void abort_mpi_job(int exit_code) {
  int init = 0, fin = 0;
  MPI_Initialized(&init);
  MPI_Finalized(&fin);
  if (init && !fin && world_storage().size > 1) {
    std::fprintf(stderr, "rank %d failed: aborting the job\n", world_storage().rank);
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, exit_code);
  }
}
}  // namespace

void abort_job(int exit_code) {
  abort_mpi_job(exit_code);
  std::exit(exit_code);
}

void abort_job_from_thread(int exit_code) {
  abort_mpi_job(exit_code);
  std::fflush(nullptr);
  std::_Exit(exit_code);
}

std::string host_name() {
  char host[256] = "unknown";
  if (::gethostname(host, sizeof host - 1) != 0) return "unknown";
  host[sizeof host - 1] = '\0';
  return host;
}

Device select_device(const std::string& requested, const World& world) {
  if (requested == "cpu") return kCPU;
  const int gpus = kernels::device::cuda_runtime().device_count();
  if (requested == "auto")
    return gpus >= world.local_size ? Device(DeviceType::CUDA, world.local_rank) : kCPU;
  Device d(requested);
  if (d.is_cuda() && world.size == 1 && requested != "cuda") {  // cuda:N, one process
    kernels::device::check_device(d.index);
    return d;
  }
  if (d.is_cuda()) {
    if (gpus < world.local_size) {
      const std::string host = host_name();
      const std::string why =
          gpus == 0 ? " (" + kernels::device::cuda_runtime().unavailable_reason() + ")" : "";
      throw Error(std::to_string(world.local_size) + " ranks on " + host + " but only " +
                      std::to_string(gpus) + " CUDA device(s) there" + why,
                  "start one rank per GPU (mpirun -np <gpus>) or set training.device: cpu");
    }
    return Device(DeviceType::CUDA, world.local_rank);
  }
  return d;
}

}  // namespace tandem::parallel
