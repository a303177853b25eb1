// flock on the run directory's lock file (see run_lock.h).
#include "launch/run_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "kernels/common/error.h"
#include "parallel/distributed.h"  // host_name

namespace tandem::launch {
namespace {

// The holder's "pid N host H" line, printable characters only, for the message.
std::string read_holder(int fd) {
  char buf[256];
  const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  std::string text;
  for (ssize_t i = 0; i < n; ++i)
    if (buf[i] == '\n')
      text += ", ";
    else if (buf[i] >= 32 && buf[i] < 127)
      text += buf[i];
  while (!text.empty() && (text.back() == ' ' || text.back() == ',')) text.pop_back();
  return text;
}

}  // namespace

RunLock::RunLock(const std::string& dir) {
  const std::string path = dir + "/" + file_name();
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0)
    throw Error("cannot open the run directory's lock file " + path + ": " + std::strerror(errno),
                "check that checkpoint.dir is writable");
  while (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EINTR) continue;
    const int err = errno;
    const std::string holder = err == EWOULDBLOCK ? read_holder(fd_) : "";
    ::close(fd_);
    fd_ = -1;
    if (err != EWOULDBLOCK)
      throw Error("cannot lock " + path + ": " + std::strerror(err),
                  "the file system of checkpoint.dir must support flock");
    throw Error("run directory " + dir + " is in use by another tandem run (" +
                    (holder.empty() ? std::string("holder unknown: it is starting") : holder) + ")",
                "wait for that run to end or stop it (SIGINT/SIGTERM), or choose another "
                "checkpoint.dir; two runs in one directory would overwrite each other's "
                "checkpoints");
  }
  const std::string holder =
      "pid " + std::to_string(::getpid()) + " on host " + parallel::host_name() + "\n";
  // Best effort: without the note the lock holds all the same; a refused run cannot name us.
  const bool noted = ::ftruncate(fd_, 0) == 0 &&
                     ::pwrite(fd_, holder.data(), holder.size(), 0) == ssize_t(holder.size());
  (void)noted;
}

RunLock::~RunLock() {
  if (fd_ >= 0) ::close(fd_);  // closing the descriptor releases the flock
}

}  // namespace tandem::launch
