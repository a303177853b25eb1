// Async-signal-safe stop flag and messages: the handler only sets a flag, write()s a message
// built beforehand, and _exit()s on the second signal.
#include "launch/stop_signal.h"

#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstring>

namespace tandem::launch {
namespace {

volatile std::sig_atomic_t stop_flag = 0;

struct Message {
  char text[256] = "";
  size_t size = 0;
};
Message first_message, second_message;

void say(const Message& m) {
  const ssize_t written = ::write(STDERR_FILENO, m.text, m.size);  // best effort
  (void)written;
}

void on_signal(int sig) {
  if (stop_flag) {
    say(second_message);
    _exit(128 + sig);
  }
  stop_flag = 1;
  say(first_message);
}

}  // namespace

StopSignalHandlers::StopSignalHandlers(int rank, int world_size) {
  char prefix[32] = "";
  if (world_size > 1) std::snprintf(prefix, sizeof prefix, "rank %d: ", rank);
  std::snprintf(first_message.text, sizeof first_message.text,
                "\n%sstop requested: finishing the current step, then writing last.safetensors "
                "(signal again to exit at once)\n",
                prefix);
  first_message.size = std::strlen(first_message.text);
  std::snprintf(second_message.text, sizeof second_message.text,
                "\n%ssecond stop signal: exiting at once; the last checkpoint on disk is intact\n",
                prefix);
  second_message.size = std::strlen(second_message.text);
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &previous_int_);
  sigaction(SIGTERM, &sa, &previous_term_);
  sigaction(SIGUSR1, &sa, &previous_usr1_);
}

StopSignalHandlers::~StopSignalHandlers() {
  sigaction(SIGINT, &previous_int_, nullptr);
  sigaction(SIGTERM, &previous_term_, nullptr);
  sigaction(SIGUSR1, &previous_usr1_, nullptr);
}

bool stop_requested() { return stop_flag != 0; }

}  // namespace tandem::launch
