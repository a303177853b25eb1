// ForkJoinPool: a fixed set of threads that run one batch of indexed tasks at a time. The caller
// runs task 0 itself and waits for the others, so DataParallel runs its replica forwards in
// parallel without starting a thread per replica on every step.
//
//   ForkJoinPool pool(2);  // tasks 1 and 2 run on the pool, task 0 on the caller
//   auto errors = pool.run(3, [&](int i) { outs[i] = replicas[i]->forward(chunks[i]); });
//   for (auto& e : errors) if (e) std::rethrow_exception(e);
#pragma once

#include <condition_variable>  // std::condition_variable
#include <cstdint>
#include <exception>   // std::exception_ptr
#include <functional>  // std::function
#include <mutex>       // std::mutex
#include <thread>      // std::thread
#include <vector>

namespace tandem::parallel {

class ForkJoinPool {
 public:
  explicit ForkJoinPool(int num_threads);
  ~ForkJoinPool();  // wakes and joins the threads
  ForkJoinPool(const ForkJoinPool&) = delete;
  ForkJoinPool& operator=(const ForkJoinPool&) = delete;

  int num_threads() const { return int(threads_.size()); }
  // Runs task(i) for every i in [0, n): task 0 on the calling thread, task i >= 1 on pool thread
  // i - 1 (so n <= num_threads() + 1), and returns once all have finished. errors[i] holds what
  // task i threw (null if it returned). One run at a time: run is not reentrant.
  std::vector<std::exception_ptr> run(int n, const std::function<void(int)>& task);

 private:
  void work(int thread_index);

  std::mutex mutex_;
  std::condition_variable wake_;  // a new run started, or the pool is stopping
  std::condition_variable done_;  // the last pool task of a run finished
  uint64_t generation_ = 0;       // run counter: a thread runs each generation at most once
  const std::function<void(int)>* task_ = nullptr;
  int n_ = 0;
  int pending_ = 0;  // pool tasks of the current run not finished yet
  bool running_ = false;
  bool stopping_ = false;
  std::vector<std::exception_ptr> errors_;
  std::vector<std::thread> threads_;
};

}  // namespace tandem::parallel
