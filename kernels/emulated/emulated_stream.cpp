// The emulated device's streams (see emulated_stream.h).
#include "kernels/emulated/emulated_stream.h"

#include <utility>

namespace tandem::kernels::emulated {

EmulatedStream::EmulatedStream(int device, bool async) : device_(device), async_(async) {
  if (async_) worker_ = std::thread([this] { loop(); });
}

EmulatedStream::~EmulatedStream() {
  if (!async_) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  worker_.join();
}

void EmulatedStream::enqueue(std::function<void()> work) {
  if (!async_) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++queued_;
      ++done_;
    }
    work();
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(std::move(work));
    ++queued_;
  }
  cv_.notify_all();
}

uint64_t EmulatedStream::position() {
  std::lock_guard<std::mutex> lock(mu_);
  return queued_;
}

bool EmulatedStream::reached(uint64_t position) {
  std::lock_guard<std::mutex> lock(mu_);
  return done_ >= position;
}

void EmulatedStream::wait_until(uint64_t position, bool host) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return done_ >= position; });
  if (host) rethrow_deferred_locked();
}

void EmulatedStream::rethrow_deferred_locked() {
  if (!deferred_) return;
  std::exception_ptr e = std::exchange(deferred_, nullptr);
  std::rethrow_exception(e);
}

void EmulatedStream::loop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, and everything queued has run
    std::function<void()> work = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    std::exception_ptr error;
    try {
      work();
    } catch (...) {
      error = std::current_exception();
    }
    work = nullptr;  // what it captured goes before the work counts as done
    lock.lock();
    if (error && !deferred_) deferred_ = error;
    ++done_;
    cv_.notify_all();
  }
}

}  // namespace tandem::kernels::emulated
