#include "framework/data/worker_pool.h"

namespace tandem::data {

WorkerPool::WorkerPool(int64_t threads) {
  for (int64_t i = 0; i < threads; ++i) threads_.emplace_back([this] { work_loop(); });
}

WorkerPool::~WorkerPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& t : threads_) t.join();
}

void WorkerPool::drain() {
  for (int64_t i = next_++; i < n_; i = next_++) {
    try {
      (*job_)(i);
    } catch (...) {
      std::lock_guard<std::mutex> lock(mu_);
      if (!error_) error_ = std::current_exception();
    }
  }
}

void WorkerPool::work_loop() {
  uint64_t seen = 0;
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      wake_.wait(lock, [&] { return stopping_ || generation_ != seen; });
      if (stopping_) return;
      seen = generation_;
      ++busy_;
    }
    drain();
    {
      std::lock_guard<std::mutex> lock(mu_);
      --busy_;
    }
    done_.notify_all();
  }
}

void WorkerPool::run(int64_t n, const std::function<void(int64_t)>& job) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    job_ = &job;
    n_ = n;
    next_ = 0;
    error_ = nullptr;
    ++generation_;
  }
  if (!threads_.empty() && n > 1) wake_.notify_all();
  drain();
  std::exception_ptr error;
  {
    // Helpers that woke for this job may still be finishing an index; the job (and `job`) must
    // outlive them.
    std::unique_lock<std::mutex> lock(mu_);
    done_.wait(lock, [&] { return busy_ == 0; });
    error = error_;
    job_ = nullptr;
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace tandem::data
