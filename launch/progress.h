// Rank 0's view of training: a one-line progress bar (loss, lr, images/s, ETA) redrawn in place
// on a terminal, or plain periodic lines when stdout is a file or pipe.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace tandem::launch {

class Progress {
 public:
  Progress(bool enabled, int64_t log_every);
  void start_epoch(int64_t epoch, int64_t epochs, int64_t steps);
  // Called after each optimizer step with the global mean loss, lr and global images so far.
  void update(int64_t step_in_epoch, double loss, double lr, int64_t images);
  void end_epoch(const std::string& summary);

 private:
  bool enabled_, tty_;
  int64_t log_every_;
  int64_t epoch_ = 0, epochs_ = 0, steps_ = 0;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace tandem::launch
