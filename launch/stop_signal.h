// SIGINT/SIGTERM handling for training: the first signal asks for a clean stop (finish the
// step, write last.safetensors, exit 0); a second one exits at once with 128 + the signal number
// (a step that never finishes cannot hold the run hostage). Both say so on stderr. Every file
// tandem writes is replaced atomically, so exiting at once never damages the last checkpoint; a
// temporary file it leaves is removed by the next run in the directory.
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
};

bool stop_requested();

}  // namespace tandem::launch
