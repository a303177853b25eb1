// Progress display.
#include "launch/progress.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "parallel/distributed.h"

namespace tandem::launch {

Progress::Progress(bool enabled, int64_t log_every)
    // mpirun hands ranks a pseudo-terminal even when its own output goes to a file, so under
    // mpirun the bar is drawn only when mpirun itself writes to a terminal (TANDEM_PROGRESS=bar).
    : enabled_(enabled),
      tty_(isatty(STDOUT_FILENO) != 0 &&
           (!parallel::launched_by_mpirun() || std::getenv("TANDEM_PROGRESS"))),
      log_every_(log_every) {}

void Progress::start_epoch(int64_t epoch, int64_t epochs, int64_t steps) {
  epoch_ = epoch;
  epochs_ = epochs;
  steps_ = steps;
  start_ = std::chrono::steady_clock::now();
}

void Progress::update(int64_t step, double loss, double lr, int64_t images) {
  if (!enabled_) return;
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double ips = s > 0 ? double(images) / s : 0.0;
  const double eta = step > 0 ? s / double(step) * double(steps_ - step) : 0.0;
  if (tty_) {
    const int width = 24;
    const int filled = steps_ > 0 ? int(double(width) * double(step) / double(steps_)) : width;
    std::printf("\repoch %lld/%lld [%s%s] %lld/%lld loss %.4f lr %.3g %.0f img/s ETA %.0fs   ",
                (long long)epoch_ + 1, (long long)epochs_, std::string(size_t(filled), '#').c_str(),
                std::string(size_t(width - filled), '.').c_str(), (long long)step,
                (long long)steps_, loss, lr, ips, eta);
    std::fflush(stdout);
  } else if (step % log_every_ == 0 || step == steps_) {
    std::printf("epoch %lld/%lld step %lld/%lld loss %.4f lr %.4g %.0f img/s ETA %.0fs\n",
                (long long)epoch_ + 1, (long long)epochs_, (long long)step, (long long)steps_, loss,
                lr, ips, eta);
    std::fflush(stdout);
  }
}

void Progress::end_epoch(const std::string& summary) {
  if (!enabled_) return;
  if (tty_) std::printf("\n");
  std::printf("%s\n", summary.c_str());
  std::fflush(stdout);
}

}  // namespace tandem::launch
