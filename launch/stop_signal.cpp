// Async-signal-safe stop flag.
#include "launch/stop_signal.h"

#include <unistd.h>
#include <csignal>

namespace tandem::launch {
namespace {
volatile std::sig_atomic_t stop_flag = 0;

void on_signal(int sig) {
  if (stop_flag) _exit(128 + sig);  // second signal: the user insists
  stop_flag = 1;
}
}  // namespace

void install_stop_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

bool stop_requested() { return stop_flag != 0; }

}  // namespace tandem::launch
