// One stream of the emulated CUDA device. Asynchronous (the default), a stream is a worker thread
// that runs its queue in order, as a GPU runs a CUDA stream: kernels and copies
// run after the call that queued them has returned, and two streams run at the same time. Host
// code that reads a result without synchronising, reuses memory that another stream still uses,
// or refills a pinned buffer before its copy has run then gets wrong values in CI instead of
// working by accident. Synchronous (TANDEM_EMULATED_STREAMS=sync): work runs at once on the
// calling thread.
//
//   EmulatedStream s(/*device=*/0, /*async=*/true);
//   s.enqueue([=] { kernel(args); });      // returns at once
//   const uint64_t mark = s.position();     // an event recorded now
//   other.enqueue([&] { s.wait_until(mark); });   // stream_wait_event
//   s.synchronize();                        // host waits; rethrows a deferred error
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>

namespace tandem::kernels::emulated {

class EmulatedStream {
 public:
  EmulatedStream(int device, bool async);
  ~EmulatedStream();  // runs what is queued, then stops the worker
  EmulatedStream(const EmulatedStream&) = delete;
  EmulatedStream& operator=(const EmulatedStream&) = delete;

  int device() const { return device_; }
  bool async() const { return async_; }

  // Runs `work` after everything queued before it. Asynchronously, an exception it throws is
  // kept and rethrown by the next synchronize() or wait_until() on the host, as a GPU reports a
  // kernel's failure at a later call; synchronously it propagates from here.
  void enqueue(std::function<void()> work);
  // How much work was queued so far: an event recorded now completes at this position.
  uint64_t position();
  bool reached(uint64_t position);
  // Blocks the calling thread until `position` has run (a worker waiting for another stream, or
  // the host); rethrows a deferred error when called from the host.
  void wait_until(uint64_t position, bool host = true);
  // wait_until(position()).
  void synchronize() { wait_until(position()); }

 private:
  void loop();
  void rethrow_deferred_locked();

  const int device_;
  const bool async_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  uint64_t queued_ = 0, done_ = 0;
  std::exception_ptr deferred_;  // the first failure not yet reported
  bool stopping_ = false;
  std::thread worker_;  // last: started once the rest is ready
};

}  // namespace tandem::kernels::emulated
