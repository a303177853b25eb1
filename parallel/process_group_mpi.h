// The MPI backend for CPU tensors. Every MPI call runs on one communication thread, in the order
// the collectives were issued, so collectives overlap with the caller's computation (DDP's
// backward) and MPI only needs MPI_THREAD_SERIALIZED. Work::wait() has a timeout (default 300 s,
// TANDEM_COLLECTIVE_TIMEOUT seconds) after which the job is aborted naming the rank, so a stuck
// peer ends the run instead of hanging it.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

#include "parallel/process_group.h"

namespace tandem::parallel {

class ProcessGroupMPI : public ProcessGroup {
 public:
  // Uses MPI_COMM_WORLD; MPI must already be initialised (see distributed.h).
  ProcessGroupMPI();
  ~ProcessGroupMPI() override;
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::shared_ptr<Work> allreduce(Tensor& tensor, ReduceOp op) override;
  std::shared_ptr<Work> broadcast(Tensor& tensor, int root) override;
  std::shared_ptr<Work> allgather(std::vector<Tensor>& out, const Tensor& in) override;
  std::shared_ptr<Work> barrier() override;

  // Collectives started so far (for tests that check overlap).
  int64_t started_collectives() const;

 private:
  std::shared_ptr<Work> enqueue(std::function<void()> fn);
  void loop();

  int rank_ = 0, size_ = 1;
  std::thread thread_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<std::function<void()>, std::shared_ptr<Work>>> queue_;
  bool stopping_ = false;
  int64_t started_ = 0;
};

}  // namespace tandem::parallel
