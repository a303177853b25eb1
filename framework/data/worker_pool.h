// WorkerPool: a fixed set of threads that run one indexed job at a time, for decoding and
// transforming the examples of a batch in parallel. The threads are made once; run() hands out
// indices through an atomic counter and returns when every index is done, so a batch's
// examples land in their own slots and the batch order never depends on the thread count.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace tandem::data {

class WorkerPool {
 public:
  // `threads` helpers besides the caller of run() (0: run() does everything itself).
  explicit WorkerPool(int64_t threads);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Calls job(i) for i in [0, n) on the helpers and the calling thread; rethrows the first
  // exception a call threw (the other indices still run to completion).
  void run(int64_t n, const std::function<void(int64_t)>& job);
  int64_t threads() const { return int64_t(threads_.size()); }

 private:
  void work_loop();
  void drain();  // takes indices until none are left

  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable wake_, done_;
  const std::function<void(int64_t)>* job_ = nullptr;
  std::atomic<int64_t> n_{0};
  std::atomic<int64_t> next_{0};
  int64_t busy_ = 0;         // helpers inside the current job
  uint64_t generation_ = 0;  // bumps with every run(), so a helper joins each job once
  bool stopping_ = false;
  std::exception_ptr error_;
};

}  // namespace tandem::data
