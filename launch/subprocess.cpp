// posix_spawnp with an argument vector; stdin and stderr through unnamed temporary files.
#include "launch/subprocess.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "kernels/common/error.h"

extern char** environ;

namespace tandem::launch {
namespace {

// An unlinked temporary file (removed by the kernel when closed): holds the program's input, or
// collects its stderr without a pipe that could fill up and block it.
struct TempFile {
  std::FILE* f = std::tmpfile();
  ~TempFile() {
    if (f) std::fclose(f);
  }
  int fd() const { return fileno(f); }
};

}  // namespace

ProgramResult run_program(const std::vector<std::string>& argv, const std::string& input,
                          int stdout_fd) {
  TANDEM_CHECK(!argv.empty(), "run_program: empty argument vector");
  ProgramResult result;
  TempFile in, err;
  const int null_fd = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (!in.f || !err.f || null_fd < 0) {
    if (null_fd >= 0) ::close(null_fd);
    result.error = std::string("cannot create a temporary file: ") + std::strerror(errno);
    return result;
  }
  if (!input.empty() && std::fwrite(input.data(), 1, input.size(), in.f) != input.size()) {
    ::close(null_fd);
    result.error = "cannot write the program's input to a temporary file";
    return result;
  }
  std::fflush(in.f);
  ::lseek(in.fd(), 0, SEEK_SET);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in.fd(), STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, stdout_fd >= 0 ? stdout_fd : null_fd, STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err.fd(), STDERR_FILENO);
  for (int fd : {in.fd(), err.fd()})
    if (fd > STDERR_FILENO) posix_spawn_file_actions_addclose(&actions, fd);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(null_fd);
  if (rc != 0) {
    result.error = argv[0] + (rc == ENOENT ? std::string(" is not installed (not found in PATH)")
                                           : std::string(": ") + std::strerror(rc));
    return result;
  }
  result.started = true;
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {  // EINTR: a signal handler ran (a stop request): keep waiting
      result.error = std::string("waitpid: ") + std::strerror(errno);
      return result;
    }
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  if (result.exit_code != 0) {
    char buf[512];
    ::lseek(err.fd(), 0, SEEK_SET);
    const ssize_t n = ::read(err.fd(), buf, sizeof buf);
    if (n > 0) result.error.assign(buf, size_t(n));
    while (!result.error.empty() && (result.error.back() == '\n' || result.error.back() == ' '))
      result.error.pop_back();
  }
  return result;
}

}  // namespace tandem::launch
