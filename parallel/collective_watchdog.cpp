// The collective watchdog's thread (see collective_watchdog.h).
#include "parallel/collective_watchdog.h"

#include <sstream>
#include <utility>

namespace tandem::parallel {
namespace {
std::string seconds_text(double s) {  // "300", "0.05"
  std::ostringstream out;
  out << s;
  return out.str();
}
}  // namespace

CollectiveWatchdog::CollectiveWatchdog(OnFailure on_failure, double timeout_seconds,
                                       std::chrono::microseconds interval, ThreadSetup setup)
    : on_failure_(std::move(on_failure)),
      timeout_seconds_(timeout_seconds),
      interval_(interval),
      setup_(std::move(setup)),
      thread_([this] { loop(); }) {}

CollectiveWatchdog::~CollectiveWatchdog() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void CollectiveWatchdog::watch(std::string what, Poll poll) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    watched_.push_back({std::move(what), std::move(poll), Clock::now()});
    ++pending_;
  }
  cv_.notify_all();
}

size_t CollectiveWatchdog::pending() const {
  std::lock_guard<std::mutex> lock(mu_);
  return pending_;
}

std::string CollectiveWatchdog::failure() const {
  std::lock_guard<std::mutex> lock(mu_);
  return failure_;
}

void CollectiveWatchdog::loop() {
  if (setup_) setup_();
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    // Idle until there is something to watch; then poll every interval.
    cv_.wait(lock, [&] { return stopping_ || !watched_.empty(); });
    if (stopping_) return;
    // Polled without the lock, so a launch on another thread never waits for a poll; polls
    // watched meanwhile join the next round. The two lists trade places and keep their
    // capacity, so a round allocates nothing.
    round_.swap(watched_);
    lock.unlock();
    std::string message;
    size_t kept = 0;
    for (Watched& w : round_) {
      std::string error;
      const Status s = message.empty() ? w.poll(&error) : Status::Pending;
      if (s == Status::Done) {
        w.poll = nullptr;  // its poll, and what it holds, go now
        continue;
      }
      if (message.empty()) {
        const double age = std::chrono::duration<double>(Clock::now() - w.launched).count();
        if (s == Status::Failed)
          message = w.what + " failed: " + error;
        else if (age > timeout_seconds_)
          message = w.what + " did not complete within " + seconds_text(timeout_seconds_) +
                    " s of its launch (TANDEM_COLLECTIVE_TIMEOUT)";
      }
      if (&round_[kept] != &w) round_[kept] = std::move(w);  // (a self-move may empty it)
      ++kept;
    }
    const size_t done = round_.size() - kept;
    round_.erase(round_.begin() + ptrdiff_t(kept), round_.end());
    lock.lock();
    pending_ -= done;
    // Oldest first, so a later round checks launches in order.
    round_.insert(round_.end(), std::make_move_iterator(watched_.begin()),
                  std::make_move_iterator(watched_.end()));
    watched_.clear();
    watched_.swap(round_);
    if (!message.empty()) {
      failure_ = message;
      lock.unlock();
      on_failure_(message);
      return;  // one failure ends the watch: nothing queued after it can complete
    }
    cv_.wait_for(lock, interval_, [&] { return stopping_; });
    if (stopping_) return;
  }
}

}  // namespace tandem::parallel
