// ForkJoinPool (see fork_join_pool.h).
#include "parallel/fork_join_pool.h"

#include "kernels/common/error.h"

namespace tandem::parallel {

ForkJoinPool::ForkJoinPool(int num_threads) {
  TANDEM_CHECK(num_threads >= 0, "ForkJoinPool: num_threads must be >= 0, got ", num_threads);
  for (int t = 0; t < num_threads; ++t) threads_.emplace_back([this, t] { work(t); });
}

ForkJoinPool::~ForkJoinPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& t : threads_) t.join();
}

std::vector<std::exception_ptr> ForkJoinPool::run(int n, const std::function<void(int)>& task) {
  TANDEM_CHECK(n >= 1 && n <= num_threads() + 1, "ForkJoinPool::run: ", n, " tasks for ",
               num_threads(), " threads plus the caller");
  std::vector<std::exception_ptr> errors(static_cast<size_t>(n));
  if (n == 1) {  // nothing to hand out: skip the locking
    try {
      task(0);
    } catch (...) {
      errors[0] = std::current_exception();
    }
    return errors;
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    TANDEM_CHECK(!running_, "ForkJoinPool::run called while another run is in progress");
    running_ = true;
    task_ = &task;
    n_ = n;
    pending_ = n - 1;
    errors_.assign(size_t(n), nullptr);
    ++generation_;
  }
  wake_.notify_all();
  std::exception_ptr first;
  try {
    task(0);
  } catch (...) {
    first = std::current_exception();
  }
  std::unique_lock<std::mutex> lock(mutex_);
  done_.wait(lock, [this] { return pending_ == 0; });
  errors.swap(errors_);
  errors[0] = first;
  task_ = nullptr;
  running_ = false;
  return errors;
}

void ForkJoinPool::work(int thread_index) {
  const int i = thread_index + 1;  // the task this thread runs
  uint64_t seen = 0;
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    wake_.wait(lock, [&] { return stopping_ || generation_ != seen; });
    if (stopping_) return;
    seen = generation_;
    if (i >= n_) continue;  // this run needs fewer threads
    const std::function<void(int)>* task = task_;
    lock.unlock();
    std::exception_ptr error;
    try {
      (*task)(i);
    } catch (...) {
      error = std::current_exception();
    }
    lock.lock();
    errors_[size_t(i)] = error;
    if (--pending_ == 0) done_.notify_one();
  }
}

}  // namespace tandem::parallel
