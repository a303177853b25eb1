// SIGINT/SIGTERM/SIGUSR1 handling for training: the first signal asks for a clean stop (finish
// the step, write last.safetensors, exit 0); a second one exits at once with 128 + the signal
// number (a step that never finishes cannot hold the run hostage). Both say so on stderr. Every
// file tandem writes is replaced atomically, so exiting at once never damages the last
// checkpoint; a temporary file it leaves is removed by the next run in the directory.
//
// SIGUSR1 is the one to send to a job under mpirun: Open MPI's mpirun forwards it to every rank,
// so the job stops cleanly and mpirun exits 0, whereas a SIGTERM to mpirun makes it end the job
// itself (SIGTERM to the ranks, SIGKILL a second later) and exit 1. launch/tandem-run turns the
// SIGTERM or SIGINT it gets into a SIGUSR1 for mpirun. Batch schedulers send it too (Slurm's
// --signal=USR1@60).
//
//   StopSignalHandlers handlers(rank, world_size);   // for the training loop's lifetime
//   if (stop_requested()) ...
#pragma once

#include <csignal>

namespace tandem::launch {

// Installs the handlers; the destructor restores the previous ones, so a signal that arrives
// after training (mpirun ending the job) does not announce a stop that no step will make.
class StopSignalHandlers {
 public:
  // `rank` and `world_size` name the rank in the messages when there are several.
  StopSignalHandlers(int rank, int world_size);
  ~StopSignalHandlers();
  StopSignalHandlers(const StopSignalHandlers&) = delete;
  StopSignalHandlers& operator=(const StopSignalHandlers&) = delete;

 private:
  struct sigaction previous_int_ {};
  struct sigaction previous_term_ {};
  struct sigaction previous_usr1_ {};
};

bool stop_requested();

}  // namespace tandem::launch
