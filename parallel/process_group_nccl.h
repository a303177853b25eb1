// The NCCL backend for CUDA tensors. Every rank calls make_process_group_nccl together: rank 0
// creates the NCCL unique id, which travels to the others over the bootstrap group (MPI), and
// each rank joins the communicator on its device. Collectives run on a dedicated CUDA stream
// that first waits (by an event) for the work already queued on the compute stream, so the
// caller never synchronises by hand. Work::wait() does not block the host: it makes the current
// (compute) stream wait for the collective on the device, so DDP queues the gradients' copy-back
// and the optimizer step while the last buckets are still being reduced; a barrier's wait()
// blocks. A watchdog thread per group polls the collectives: on a CUDA or NCCL error, or after
// the collective timeout (collective_timeout.h), it aborts the communicator (ncclCommAbort) and
// ends the job naming this rank, so a failed peer ends the job instead of hanging it.
//
// This header has no CUDA types: without the CUDA toolkit the stub behind it explains that
// tandem was built without NCCL.
#pragma once

#include <memory>

#include "kernels/common/device.h"
#include "parallel/process_group.h"

namespace tandem::parallel {

// True when tandem was built with NCCL (the CUDA toolkit's nccl.h and libnccl were found).
bool nccl_available();

// Collective: every rank of `bootstrap` must call it. `device` is this rank's CUDA device.
std::shared_ptr<ProcessGroup> make_process_group_nccl(ProcessGroup& bootstrap, Device device);

}  // namespace tandem::parallel
