// Process discovery for `mpirun -np N tandem ...`: world rank and size from MPI, the local rank
// (rank among the processes on this node, from MPI_Comm_split_type(SHARED)), and the process
// group. A process not started by mpirun runs alone without initialising MPI.
#pragma once

#include <memory>
#include <string>

#include "kernels/common/device.h"
#include "parallel/process_group.h"

namespace tandem::parallel {

struct World {
  int rank = 0;
  int size = 1;
  int local_rank = 0;
  int local_size = 1;
  std::shared_ptr<ProcessGroup> process_group;  // null when size == 1 and MPI is not in use
};

// Initialises MPI once (MPI_THREAD_SERIALIZED) when launched by mpirun; later calls return the
// same World.
const World& init_distributed();
bool launched_by_mpirun();
// Stops the process group and finalises MPI (normal exit).
void shutdown_distributed();
// This machine's host name ("unknown" if it cannot be read), for messages naming where a rank is.
std::string host_name();
// Ends every rank of the job after an error on this one (MPI_Abort), naming the rank.
[[noreturn]] void abort_job(int exit_code);
// The same from a thread other than the one running main (a watchdog): with no job to abort it
// ends the process with std::_Exit, since std::exit would run static destructors under the
// threads still running.
[[noreturn]] void abort_job_from_thread(int exit_code);

// The device for this rank: "cpu"; "cuda" -> cuda:<local rank> (error if this node has fewer
// GPUs than ranks); "auto" -> cuda when every local rank has a GPU, else cpu.
Device select_device(const std::string& requested, const World& world);

}  // namespace tandem::parallel
