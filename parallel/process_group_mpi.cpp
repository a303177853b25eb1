// MPI backend (see process_group_mpi.h).
#include "parallel/process_group_mpi.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <future>

#include "framework/autograd/grad_mode.h"
#include "framework/tensor/factories.h"
#include "parallel/collective_timeout.h"
#include "parallel/mpi_check.h"

namespace tandem::parallel {
namespace {

MPI_Datatype mpi_type(DType t) {
  switch (t) {
    case DType::Float32:
      return MPI_FLOAT;
    case DType::Float64:
      return MPI_DOUBLE;
    case DType::Int64:
      return MPI_INT64_T;
    case DType::Int32:
      return MPI_INT32_T;
    case DType::Int16:
      return MPI_INT16_T;
    case DType::Int8:
      return MPI_INT8_T;
    case DType::UInt8:
      return MPI_UINT8_T;
    case DType::Bool:
      return MPI_C_BOOL;
    default:
      TANDEM_FAIL("MPI backend: ", dtype_name(t), " tensors are not supported");
  }
}

class MpiWork : public Work {
 public:
  void finish(std::exception_ptr error) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_ = true;
      error_ = error;
    }
    cv_.notify_all();
  }
  void wait() override {
    std::unique_lock<std::mutex> lock(mu_);
    const auto limit = std::chrono::duration<double>(collective_timeout_seconds());
    if (!cv_.wait_for(lock, limit, [&] { return done_; })) {
      int rank = 0;
      MPI_Comm_rank(MPI_COMM_WORLD, &rank);
      std::fprintf(
          stderr,
          "error: rank %d: a collective did not complete within %.0f s; another rank has probably "
          "failed. Aborting the job.\n",
          rank, limit.count());
      std::fflush(stderr);
      MPI_Abort(MPI_COMM_WORLD, 3);
    }
    if (error_) std::rethrow_exception(error_);
  }
  bool is_completed() override {
    std::lock_guard<std::mutex> lock(mu_);
    return done_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::exception_ptr error_;
};

void check_contiguous(const Tensor& t, const char* op) {
  TANDEM_CHECK(t.is_contiguous(), op, ": tensor must be contiguous");
}

// MPI works on host memory: a CUDA tensor (the emulated device's, or a GPU's without NCCL) is
// staged through a host copy, which orders after the work queued on its stream.
Tensor host_view(const Tensor& t) { return t.is_cuda() ? t.cpu() : t; }

void write_back(Tensor& t, const Tensor& host) {
  if (t.is_cuda()) {
    NoGradGuard no_grad;
    t.copy_(host);
  }
  t.bump_version();
}

}  // namespace

ProcessGroupMPI::ProcessGroupMPI() {
  TANDEM_MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &rank_));
  TANDEM_MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &size_));
  thread_ = std::thread([this] { loop(); });
}

ProcessGroupMPI::~ProcessGroupMPI() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

int64_t ProcessGroupMPI::started_collectives() const {
  std::lock_guard<std::mutex> lock(mu_);
  return started_;
}

void ProcessGroupMPI::loop() {
  while (true) {
    std::pair<std::function<void()>, std::shared_ptr<Work>> job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and everything issued has run
      job = std::move(queue_.front());
      queue_.pop_front();
      ++started_;
    }
    std::exception_ptr error;
    try {
      job.first();
    } catch (...) {
      error = std::current_exception();
    }
    static_cast<MpiWork*>(job.second.get())->finish(error);
  }
}

std::shared_ptr<Work> ProcessGroupMPI::enqueue(std::function<void()> fn) {
  auto work = std::make_shared<MpiWork>();
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.emplace_back(std::move(fn), work);
  }
  cv_.notify_all();
  return work;
}

std::shared_ptr<Work> ProcessGroupMPI::allreduce(Tensor& tensor, ReduceOp op) {
  check_contiguous(tensor, "allreduce");
  Tensor t = tensor;  // keeps the storage alive until the collective ran
  const int world = size_;
  return enqueue([t, op, world]() mutable {
    Tensor host = host_view(t);
    const MPI_Datatype type = mpi_type(host.dtype());
    if (host.numel() > 0)
      TANDEM_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, host.raw_data(), int(host.numel()), type,
                                     op == ReduceOp::Max ? MPI_MAX : MPI_SUM, MPI_COMM_WORLD));
    if (op == ReduceOp::Average && host.numel() > 0) {
      NoGradGuard no_grad;
      host.div_(double(world));
    }
    write_back(t, host);
  });
}

std::shared_ptr<Work> ProcessGroupMPI::broadcast(Tensor& tensor, int root) {
  check_contiguous(tensor, "broadcast");
  TANDEM_CHECK(root >= 0 && root < size_, "broadcast: root ", root, " is not a rank of a world of ",
               size_);
  Tensor t = tensor;
  return enqueue([t, root]() mutable {
    Tensor host = host_view(t);
    if (host.nbytes() > 0)
      TANDEM_MPI_CHECK(
          MPI_Bcast(host.raw_data(), int(host.nbytes()), MPI_BYTE, root, MPI_COMM_WORLD));
    write_back(t, host);
  });
}

std::shared_ptr<Work> ProcessGroupMPI::allgather(std::vector<Tensor>& out, const Tensor& in) {
  check_contiguous(in, "allgather");
  TANDEM_CHECK(int(out.size()) == size_, "allgather: expected ", size_, " output tensors, got ",
               out.size());
  for (auto& o : out) {
    check_contiguous(o, "allgather");
    TANDEM_CHECK(o.nbytes() == in.nbytes(),
                 "allgather: output tensors must match the input's size");
  }
  std::vector<Tensor> outs = out;
  Tensor src = in;
  return enqueue([outs, src]() mutable {
    const Tensor host_src = host_view(src);
    const size_t n = host_src.nbytes();
    std::vector<char> gathered(n * outs.size());
    if (n > 0)
      TANDEM_MPI_CHECK(MPI_Allgather(host_src.raw_data(), int(n), MPI_BYTE, gathered.data(), int(n),
                                     MPI_BYTE, MPI_COMM_WORLD));
    for (size_t r = 0; r < outs.size(); ++r) {
      Tensor host =
          outs[r].is_cuda() ? empty(outs[r].sizes(), TensorOptions(outs[r].dtype())) : outs[r];
      if (n > 0) std::memcpy(host.raw_data(), gathered.data() + r * n, n);
      write_back(outs[r], host);
    }
  });
}

std::shared_ptr<Work> ProcessGroupMPI::barrier() {
  return enqueue([] { TANDEM_MPI_CHECK(MPI_Barrier(MPI_COMM_WORLD)); });
}

}  // namespace tandem::parallel
