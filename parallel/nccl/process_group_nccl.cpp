// The NCCL backend (see process_group_nccl.h). A thin layer over NCCL and the CUDA runtime:
// one communicator, one non-blocking stream and one watchdog thread per group; each collective is
//   compute stream --event--> comm stream: nccl<Collective> --event--> Work::wait(): the
//   then-current compute stream waits for the event on the device
// and the watchdog (parallel/collective_watchdog.h) polls the event: a failure or a timeout aborts
// the communicator and ends the job naming the rank, since no host thread is waiting to notice.
// The compute stream is the device's current stream (kernels/device/context.h), where tandem's
// kernels and copies run. Tensors a collective uses are recorded on the comm stream
// (record_stream), so the caching allocator reuses their memory only after the collective.
#include <cuda_runtime.h>
#include <nccl.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "framework/tensor/factories.h"
#include "kernels/common/error.h"
#include "kernels/cuda/check.h"
#include "kernels/device/context.h"
#include "parallel/collective_timeout.h"
#include "parallel/collective_watchdog.h"
#include "parallel/distributed.h"  // defines: abort_job_from_thread
#include "parallel/process_group_nccl.h"

namespace tandem::parallel {
namespace {

// A checked CUDA or NCCL call (kernels/cuda/check.h) whose error also names this rank.
// NCCL_ENQUEUE is for a collective on the non-blocking communicator, which may answer
// ncclInProgress while it enqueues (wait_for_comm then waits for it); any error aborts the
// communicator (NCCL requires it after a failure), so the peers stop waiting for this rank.
#define CHECKED_CALL(call)                                                        \
  do {                                                                            \
    try {                                                                         \
      TANDEM_CUDA_CHECK(call);                                                    \
    } catch (const Error& e_) {                                                   \
      throw Error("rank " + std::to_string(rank_) + ": " + e_.what(), e_.hint()); \
    }                                                                             \
  } while (0)
#define NCCL_ENQUEUE(call)                                                     \
  do {                                                                         \
    const ncclResult_t r_ = (call);                                            \
    if (r_ != ncclSuccess && r_ != ncclInProgress)                             \
      abort_locked(std::string(#call) + " failed: " + ncclGetErrorString(r_)); \
  } while (0)

ncclDataType_t nccl_type(DType t) {
  switch (t) {
    case DType::Float32:
      return ncclFloat32;
    case DType::Float64:
      return ncclFloat64;
    case DType::Float16:
      return ncclFloat16;
    case DType::BFloat16:
      return ncclBfloat16;
    case DType::Int64:
      return ncclInt64;
    case DType::Int32:
      return ncclInt32;
    case DType::Int8:
      return ncclInt8;
    case DType::UInt8:
    case DType::Bool:  // one byte; a "sum" of bools is reduced as max (logical or), as PyTorch
      return ncclUint8;
    default:
      TANDEM_FAIL("NCCL backend: ", dtype_name(t), " tensors are not supported");
  }
}

ncclRedOp_t nccl_op(ReduceOp op, DType t) {
  switch (op) {
    case ReduceOp::Sum:
      return t == DType::Bool ? ncclMax : ncclSum;
    case ReduceOp::Average:
      TANDEM_CHECK(is_floating(t), "NCCL backend: average of ", dtype_name(t),
                   " tensors is not defined; use sum");
      return ncclAvg;
    case ReduceOp::Max:
      return ncclMax;
  }
  return ncclSum;
}

// The NCCL stream of a device, created once and never destroyed: tensors a collective used are
// recorded on it (record_stream), and the caching allocator records an event on that stream when
// such a tensor is freed, which may be after the group is gone (a model's parameters outlive its
// DDP wrapper). Process groups on one device share it, so their collectives run in issue order.
cudaError_t comm_stream(int device, cudaStream_t* out) {
  static std::mutex mu;
  static auto* streams = new std::map<int, cudaStream_t>();  // never destroyed, as the streams
  std::lock_guard<std::mutex> lock(mu);
  cudaStream_t& s = (*streams)[device];
  if (!s) {
    const cudaError_t e = cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);
    if (e != cudaSuccess) {
      s = nullptr;
      return e;
    }
  }
  *out = s;
  return cudaSuccess;
}

class ProcessGroupNCCL;

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// The event a collective records on the comm stream when it is done, shared by its Work and the
// watchdog: destroyed when both are finished with it.
struct DoneEvent {
  cudaEvent_t event = nullptr;
  DoneEvent() = default;
  DoneEvent(const DoneEvent&) = delete;
  DoneEvent& operator=(const DoneEvent&) = delete;
  ~DoneEvent() {
    if (event) cudaEventDestroy(event);
  }
};

// One collective in flight. wait() orders the caller's current stream after it, on the device,
// and returns at once (a barrier's waits for it on the host); the Work holds the tensors the
// collective reads and writes until then (their memory is also recorded on the comm stream, so
// dropping the Work early is safe). A failure or timeout is the watchdog's to notice; wait() and
// is_completed() throw once the communicator was aborted.
class NcclWork : public Work {
 public:
  NcclWork(std::shared_ptr<ProcessGroupNCCL> pg, std::shared_ptr<DoneEvent> done, const char* what,
           std::vector<Tensor> keep, bool host_wait)
      : pg_(std::move(pg)),
        done_(std::move(done)),
        what_(what),
        keep_(std::move(keep)),
        host_wait_(host_wait) {}
  void wait() override;
  bool is_completed() override;

 private:
  std::shared_ptr<ProcessGroupNCCL> pg_;  // a pending Work keeps its communicator alive
  std::shared_ptr<DoneEvent> done_;
  const char* what_;
  std::vector<Tensor> keep_;
  bool host_wait_;
};

class ProcessGroupNCCL : public ProcessGroup,
                         public std::enable_shared_from_this<ProcessGroupNCCL> {
 public:
  ProcessGroupNCCL(ProcessGroup& bootstrap, Device device)
      : rank_(bootstrap.rank()), size_(bootstrap.size()), device_(device) {
    TANDEM_CHECK(device.is_cuda(), "NCCL backend: rank ", rank_, " was given device ", device.str(),
                 "; NCCL reduces CUDA tensors only");
    // Every step before ncclCommInitRank is agreed on over the bootstrap group: a rank that
    // fails must not leave the others waiting in ncclCommInitRank for it forever.
    // 1. Rank 0 creates the unique id; it travels as bytes, with a success flag, to every rank.
    ncclUniqueId id;
    std::memset(&id, 0, sizeof(id));
    std::string why;
    if (rank_ == 0) {
      const ncclResult_t r = ncclGetUniqueId(&id);
      if (r != ncclSuccess) why = ncclGetErrorString(r);
    }
    Tensor bytes = zeros({int64_t(sizeof(id)) + 1}, TensorOptions(DType::UInt8));
    std::memcpy(bytes.raw_data(), &id, sizeof(id));
    bytes.data_ptr<uint8_t>()[sizeof(id)] = why.empty() ? 1 : 0;
    bootstrap.broadcast(bytes, 0)->wait();
    if (bytes.data_ptr<uint8_t>()[sizeof(id)] == 0)
      throw Error("rank " + std::to_string(rank_) +
                  ": NCCL: rank 0 could not create the unique id" +
                  (why.empty() ? std::string() : ": " + why));
    std::memcpy(&id, bytes.raw_data(), sizeof(id));
    // 2. Each rank claims its device and stream; the ranks that could not are named to all.
    //    The device layer records the switch too: its record of this thread's device decides
    //    whether later kernels switch, and a stale one would launch into another device's stream.
    cudaError_t claimed = cudaSetDevice(device_.index);
    if (claimed == cudaSuccess) kernels::device::set_current_device(device_.index);
    if (claimed == cudaSuccess) claimed = comm_stream(device_.index, &stream_);
    if (claimed == cudaSuccess)
      claimed = cudaEventCreateWithFlags(&compute_ready_, cudaEventDisableTiming);
    if (claimed != cudaSuccess) {
      why = cudaGetErrorString(claimed);
      cudaGetLastError();  // clear the sticky error
    }
    Tensor status = from_vector(std::vector<int64_t>{claimed == cudaSuccess ? 0 : 1}, {1});
    std::vector<Tensor> all;
    for (int r = 0; r < size_; ++r) all.push_back(zeros({1}, TensorOptions(DType::Int64)));
    bootstrap.allgather(all, status)->wait();
    std::string failed;
    for (int r = 0; r < size_; ++r)
      if (all[size_t(r)].item() != 0) failed += (failed.empty() ? "" : ", ") + std::to_string(r);
    if (!failed.empty()) {
      release_cuda();  // the destructor does not run for a constructor that throws
      throw Error("rank " + std::to_string(rank_) + ": NCCL: could not use " + device_.str() +
                      " on rank(s) " + failed +
                      (why.empty() ? std::string() : " (here: " + why + ")"),
                  "each rank needs its own CUDA device (local rank -> cuda:<local rank>); use "
                  "device: cpu with distributed.backend: mpi on machines without GPUs");
    }
    // 3. Join the communicator, non-blocking so that a peer that never joins is a timeout
    //    naming this rank, not a hang; the stream and event are released on failure.
    try {
      ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
      config.blocking = 0;
      const ncclResult_t r = ncclCommInitRankConfig(&comm_, size_, id, rank_, &config);
      if (r != ncclSuccess && r != ncclInProgress) CHECKED_CALL(r);
      wait_for_comm("ncclCommInitRank", Clock::now());
    } catch (...) {
      if (comm_ && !aborted_) ncclCommAbort(comm_);
      comm_ = nullptr;
      release_cuda();
      throw;
    }
    // 4. The watchdog, on this group's device (its first CUDA call would otherwise create a
    //    context on device 0).
    const int index = device_.index;
    watchdog_ = std::make_unique<CollectiveWatchdog>(
        [this](const std::string& m) { watchdog_failure(m); }, collective_timeout_seconds(),
        std::chrono::milliseconds(2), [index] { kernels::device::set_current_device(index); });
  }

  ~ProcessGroupNCCL() override {
    // ncclCommDestroy waits for the collectives in flight (wait() does not block the host, so
    // some may be): let the watchdog see them finish first, or end the job after the timeout,
    // so a stuck peer cannot hang this rank here.
    while (watchdog_->pending() > 0 && !aborted() && watchdog_->failure().empty())
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    watchdog_.reset();
    if (comm_ && !aborted_) ncclCommDestroy(comm_);
    release_cuda();
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }

  std::shared_ptr<Work> allreduce(Tensor& t, ReduceOp op) override {
    check_tensor(t, "allreduce");
    return launch("allreduce", {t}, /*host_wait=*/false, [&] {
      NCCL_ENQUEUE(ncclAllReduce(t.raw_data(), t.raw_data(), size_t(t.numel()),
                                 nccl_type(t.dtype()), nccl_op(op, t.dtype()), comm_, stream_));
    });
  }

  std::shared_ptr<Work> broadcast(Tensor& t, int root) override {
    check_tensor(t, "broadcast");
    return launch("broadcast", {t}, /*host_wait=*/false, [&] {
      NCCL_ENQUEUE(ncclBroadcast(t.raw_data(), t.raw_data(), size_t(t.numel()),
                                 nccl_type(t.dtype()), root, comm_, stream_));
    });
  }

  std::shared_ptr<Work> allgather(std::vector<Tensor>& out, const Tensor& in) override {
    check_tensor(in, "allgather");
    TANDEM_CHECK(int(out.size()) == size_, "allgather: expected ", size_,
                 " output tensors (one per rank), got ", out.size());
    for (auto& o : out) {
      check_tensor(o, "allgather output");
      TANDEM_CHECK(o.sizes() == in.sizes() && o.dtype() == in.dtype(),
                   "allgather: every output must have the input's shape and dtype");
    }
    // NCCL gathers into one flat buffer; the slices are then copied out on the same stream.
    Tensor flat =
        empty({int64_t(size_) * in.numel()}, TensorOptions(in.dtype()).with_device(device_));
    std::vector<Tensor> keep = out;
    keep.push_back(in);
    keep.push_back(flat);
    return launch("allgather", std::move(keep), /*host_wait=*/false, [&] {
      NCCL_ENQUEUE(ncclAllGather(in.raw_data(), flat.raw_data(), size_t(in.numel()),
                                 nccl_type(in.dtype()), comm_, stream_));
      // Until the communicator reports ncclSuccess, the gather may not be on the stream yet:
      // copies queued now could run before it.
      wait_for_comm("allgather", Clock::now());
      for (int r = 0; r < size_; ++r)
        CHECKED_CALL(cudaMemcpyAsync(out[size_t(r)].raw_data(),
                                     static_cast<char*>(flat.raw_data()) + size_t(r) * in.nbytes(),
                                     in.nbytes(), cudaMemcpyDeviceToDevice, stream_));
    });
  }

  std::shared_ptr<Work> barrier() override {
    // An all-reduce of one byte on this group's device: returns when every rank has reached it.
    Tensor token = zeros({1}, TensorOptions(DType::UInt8).with_device(device_));
    return launch("barrier", {token}, /*host_wait=*/true, [&] {
      NCCL_ENQUEUE(
          ncclAllReduce(token.raw_data(), token.raw_data(), 1, ncclUint8, ncclMax, comm_, stream_));
    });
  }

  // Throws if the communicator was aborted (a Work of this group cannot complete then).
  void check_not_aborted(const char* what) {
    std::lock_guard<std::mutex> lock(mu_);
    if (aborted_)
      throw Error("rank " + std::to_string(rank_) + ": NCCL " + what +
                      " cannot complete: the communicator was aborted (" + abort_reason_ + ")",
                  "another rank has probably failed: see its error");
  }
  const Device& device() const { return device_; }
  // The communicator's asynchronous error state; false (and no query) once it was aborted: an
  // aborted communicator is freed and must not be queried again. Under the lock, so another
  // thread cannot abort it between the check and the query.
  bool async_error(ncclResult_t* state) {
    std::lock_guard<std::mutex> lock(mu_);
    if (aborted_) return false;
    *state = ncclSuccess;
    const ncclResult_t r = ncclCommGetAsyncError(comm_, state);
    if (r != ncclSuccess) *state = r;
    return true;
  }

 private:
  void check_tensor(const Tensor& t, const char* what) const {
    TANDEM_CHECK(t.device() == device_, "NCCL ", what, ": rank ", rank_, " got a tensor on ",
                 t.device().str(), ", expected ", device_.str());
    TANDEM_CHECK(t.is_contiguous(), "NCCL ", what, ": the tensor must be contiguous");
  }

  template <typename Fn>
  std::shared_ptr<Work> launch(const char* what, std::vector<Tensor> keep, bool host_wait,
                               Fn&& issue) {
    std::lock_guard<std::mutex> lock(mu_);
    TANDEM_CHECK(!aborted_, "rank ", rank_, ": NCCL ", what,
                 " after the communicator was aborted by an earlier failure");
    // Through the device layer, which keeps its per-thread record of the device in step.
    kernels::device::set_current_device(device_.index);
    // Order after everything already queued on the compute stream. One event serves every
    // collective: cudaStreamWaitEvent captures the event as recorded at the call, so recording
    // it again for the next collective does not disturb this one.
    const auto compute = static_cast<cudaStream_t>(kernels::device::current_stream(device_.index));
    CHECKED_CALL(cudaEventRecord(compute_ready_, compute));
    CHECKED_CALL(cudaStreamWaitEvent(stream_, compute_ready_, 0));
    // The memory of these tensors is in use on the comm stream until the collective completes,
    // even if the Work is dropped without wait().
    for (const Tensor& t : keep) t.record_stream(stream_);
    issue();
    // A non-blocking communicator may still be enqueueing the collective.
    wait_for_comm(what, Clock::now());
    auto done = std::make_shared<DoneEvent>();
    CHECKED_CALL(cudaEventCreateWithFlags(&done->event, cudaEventDisableTiming));
    CHECKED_CALL(cudaEventRecord(done->event, stream_));
    watchdog_->watch(what, [this, done](std::string* error) { return poll(*done, error); });
    return std::make_shared<NcclWork>(shared_from_this(), std::move(done), what, std::move(keep),
                                      host_wait);
  }

  // The watchdog's question about one collective (on its thread, which has selected device_).
  // Done also means "not the watchdog's to report": a CUDA error (sticky: the context is broken,
  // so the main thread's next CUDA call reports it, naming its own call, where an earlier kernel
  // may be the cause), or a communicator another thread aborted (that thread throws the reason).
  CollectiveWatchdog::Status poll(const DoneEvent& done, std::string* error) {
    const cudaError_t q = cudaEventQuery(done.event);
    if (q != cudaErrorNotReady) return CollectiveWatchdog::Status::Done;
    ncclResult_t state = ncclSuccess;
    if (!async_error(&state)) return CollectiveWatchdog::Status::Done;
    if (state != ncclSuccess && state != ncclInProgress) {
      *error = ncclGetErrorString(state);
      return CollectiveWatchdog::Status::Failed;
    }
    return CollectiveWatchdog::Status::Pending;
  }

  // Polls the communicator until its last call has finished (ncclInProgress no more), aborting
  // it on an error or after TANDEM_COLLECTIVE_TIMEOUT seconds.
  void wait_for_comm(const char* what, Clock::time_point start) {
    const double limit = collective_timeout_seconds();
    for (;;) {
      ncclResult_t state = ncclSuccess;
      const ncclResult_t r = ncclCommGetAsyncError(comm_, &state);
      if (r != ncclSuccess) state = r;
      if (state == ncclSuccess) return;
      if (state != ncclInProgress)
        abort_locked(std::string(what) + " failed: " + ncclGetErrorString(state));
      if (seconds_since(start) > limit)
        abort_locked(std::string(what) + " did not complete within " + std::to_string(int(limit)) +
                     " s (a rank that never joined?)");
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }

  // Aborts the communicator (once) and throws naming this rank; the caller holds mu_ (or is the
  // constructor, before the group is shared).
  [[noreturn]] void abort_locked(const std::string& what) {
    abort_comm_locked(what);
    throw Error(
        "rank " + std::to_string(rank_) + ": NCCL " + what + "; the communicator was aborted",
        "another rank has probably failed: see its error");
  }

  void abort_comm_locked(const std::string& why) {
    if (comm_ && !aborted_) {
      aborted_ = true;
      abort_reason_ = why;
      ncclCommAbort(comm_);
    }
  }

  // The watchdog saw a collective fail or time out. Nothing queued after it can complete, and
  // the compute stream may already wait for it on the device, so a host thread reading a result
  // would hang: abort the communicator (its peers stop waiting for this rank) and end the job
  // naming the rank, as the MPI backend does after its timeout.
  void watchdog_failure(const std::string& message) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (aborted_) return;  // whoever aborted it reports why (abort_locked throws)
      abort_comm_locked(message);
    }
    std::fprintf(stderr,
                 "error: rank %d: NCCL %s; the communicator was aborted (another rank has probably "
                 "failed: see its error). Ending the job.\n",
                 rank_, message.c_str());
    std::fflush(stderr);
    abort_job_from_thread(3);
  }

  bool aborted() {
    std::lock_guard<std::mutex> lock(mu_);
    return aborted_;
  }

  // The event only: the comm stream outlives the group (comm_stream).
  void release_cuda() {
    if (compute_ready_) cudaEventDestroy(compute_ready_);
    compute_ready_ = nullptr;
  }

  int rank_, size_;
  Device device_;

  cudaStream_t stream_ = nullptr;
  cudaEvent_t compute_ready_ = nullptr;  // recorded on the compute stream before each collective
  ncclComm_t comm_ = nullptr;
  std::mutex mu_;
  bool aborted_ = false;
  std::string abort_reason_;
  // Last: stopped (joined) first, before the communicator and the event go.
  std::unique_ptr<CollectiveWatchdog> watchdog_;
};

bool NcclWork::is_completed() {
  const cudaError_t q = cudaEventQuery(done_->event);
  if (q == cudaSuccess) return true;  // finished before any abort: its result stands
  if (q != cudaErrorNotReady) TANDEM_CUDA_CHECK(q);
  pg_->check_not_aborted(what_);
  return false;
}

void NcclWork::wait() {
  if (host_wait_) {
    // Polled, not cudaEventSynchronize: after an abort the event never completes, and the
    // watchdog's abort is then seen here.
    while (!is_completed()) std::this_thread::sleep_for(std::chrono::microseconds(50));
  } else {
    pg_->check_not_aborted(what_);
    const Device& d = pg_->device();
    const auto compute = static_cast<cudaStream_t>(kernels::device::current_stream(d.index));
    TANDEM_CUDA_CHECK(cudaStreamWaitEvent(compute, done_->event, 0));
  }
  keep_.clear();
}

}  // namespace

bool nccl_available() { return true; }

std::shared_ptr<ProcessGroup> make_process_group_nccl(ProcessGroup& bootstrap, Device device) {
  return std::make_shared<ProcessGroupNCCL>(bootstrap, device);
}

}  // namespace tandem::parallel
