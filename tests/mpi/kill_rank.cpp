// For the failure test: rank 1 kills itself with SIGKILL while rank 0 waits in an all-reduce.
// The job must end (non-zero) well within 60 s, with mpirun naming the dead rank.
#include <unistd.h>
#include <csignal>
#include <cstdio>

#include "framework/tensor/factories.h"
#include "parallel/distributed.h"

int main() {
  using namespace tandem;
  const auto& world = parallel::init_distributed();
  Tensor t = ones({4});
  if (world.rank == 1) {
    std::fprintf(stderr, "rank 1: killing myself\n");
    ::kill(::getpid(), SIGKILL);
  }
  world.process_group->allreduce(t, parallel::ReduceOp::Sum)->wait();
  parallel::shutdown_distributed();
  return 0;
}
