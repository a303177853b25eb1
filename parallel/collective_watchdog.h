// CollectiveWatchdog: a thread that watches collectives a device backend has queued and that no
// host thread waits for.
//
// NCCL's Work::wait() does not block the host: it makes the compute stream wait for the
// collective on the device and returns (parallel/process_group.h). Then no host thread would
// notice a peer that never arrives, or an asynchronous NCCL error: the job would hang at the next
// host read (`loss.item()`). The watchdog polls every pending collective; on a failure, or when
// one has not completed TANDEM_COLLECTIVE_TIMEOUT seconds after its launch, it calls on_failure
// once with a message naming the collective. (NCCL's on_failure aborts the communicator and ends
// the job naming the rank, as the MPI backend does after its timeout.)
//
//   CollectiveWatchdog dog(on_failure, collective_timeout_seconds());
//   dog.watch("allreduce", [event](std::string* error) { return query(event, error); });
//
// The generic part has no CUDA in it, so it is tested on the CPU (tests/test_collective_watchdog).
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace tandem::parallel {

class CollectiveWatchdog {
 public:
  enum class Status { Pending, Done, Failed };
  // Asked from the watchdog thread: Done once the collective has finished, or once it is no
  // longer the watchdog's to report (the poll is then dropped, with what it captured); Failed
  // with *error set when it never will finish.
  using Poll = std::function<Status(std::string* error)>;
  // Called once, from the watchdog thread, with the first failure's message. It may end the
  // process; if it returns, the watchdog stops polling.
  using OnFailure = std::function<void(const std::string& message)>;
  // Runs before the first poll, on the watchdog thread (NCCL: select the group's device, or the
  // thread's first CUDA call would create a context on device 0).
  using ThreadSetup = std::function<void()>;

  CollectiveWatchdog(OnFailure on_failure, double timeout_seconds,
                     std::chrono::microseconds interval = std::chrono::milliseconds(2),
                     ThreadSetup setup = nullptr);
  ~CollectiveWatchdog();  // stops and joins the thread; pending polls are dropped
  CollectiveWatchdog(const CollectiveWatchdog&) = delete;
  CollectiveWatchdog& operator=(const CollectiveWatchdog&) = delete;

  // Watches a collective launched now, named `what` in messages ("allreduce").
  void watch(std::string what, Poll poll);
  size_t pending() const;       // collectives not yet seen Done
  std::string failure() const;  // the first failure's message; "" while none

 private:
  using Clock = std::chrono::steady_clock;
  struct Watched {
    std::string what;
    Poll poll;
    Clock::time_point launched;
  };
  void loop();

  OnFailure on_failure_;
  double timeout_seconds_;
  std::chrono::microseconds interval_;
  ThreadSetup setup_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Watched> watched_;  // not being polled right now
  std::vector<Watched> round_;    // being polled (the watchdog thread's; empty between rounds)
  size_t pending_ = 0;            // watched and not yet Done, polled now or not
  std::string failure_;
  bool stopping_ = false;
  std::thread thread_;  // last: started after every other member is ready
};

}  // namespace tandem::parallel
