// One run per run directory: an exclusive flock on <dir>/.tandem.lock, held for the life of the
// run and released by the kernel however the process ends (exit, crash, kill -9), so a stale
// lock never needs cleaning up. The holder writes its PID and host into the file, and a second
// run is refused with an error naming them. Under mpirun only rank 0 writes the run directory,
// so only rank 0 takes the lock, and tells the other ranks whether it got it (the trainer), so
// that a refused job ends on every rank with the one error and exit 2.
#pragma once

#include <string>

namespace tandem::launch {

class RunLock {
 public:
  // Takes the lock or throws (exit 2) naming the holder's PID and host.
  explicit RunLock(const std::string& dir);
  ~RunLock();
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;
  static const char* file_name() { return ".tandem.lock"; }

 private:
  int fd_ = -1;
};

}  // namespace tandem::launch
