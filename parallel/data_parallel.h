// DataParallel: single-process data parallelism, as torch.nn.DataParallel. Each forward splits
// the batch into chunks along dim 0 (torch.chunk's sizes), runs one replica of the model per
// chunk on its own thread, and concatenates the outputs (an autograd cat), so the loss and its
// backward cover the whole batch. Gradients land in each replica's parameters and are summed
// into replica 0's at the end of backward; optimise module()->parameters() as usual.
//
//   auto make = [] { return std::make_shared<Net>(); };
//   auto dp = std::make_shared<parallel::DataParallel>(make, /*num_replicas=*/3);
//   optim::SGD opt(dp->parameters(), {.lr = 0.1});       // replica 0's parameters
//   cross_entropy(dp->forward(x), y).backward();         // x: batch 10 -> chunks 4, 4, 2
//   opt.step();
//   dp->state_dict();                                    // "module.<key>", as PyTorch
//
// Replicas come from a factory because tandem modules cannot be deep-copied generically. Only
// replica 0 is registered (as child "module"), so state_dict, parameters(), to(), train() and
// repr see exactly one model; replicas 1..n-1 are private. Before each forward they receive
// replica 0's parameters and buffers (copied into their existing tensors, and only those that
// changed since the last copy, judged by the storage's version counter, which every tandem
// write bumps), requires_grad, every submodule's train/eval flag, Dropout's p, and replica 0's
// dtype after a to(). Other non-tensor attributes changed on module() after construction are
// not propagated, and the model's structure must not change after construction.
//
// Devices, as torch's device_ids and output_device:
// - device_ids empty (the default): every replica lives on module()'s device (and follows it
//   after a to()); num_replicas = 0 means one per hardware thread, at most 8.
// - device_ids = {cuda:0, cuda:1, ...}: one replica per listed device (num_replicas must be 0 or
//   their count). module() must be on device_ids[0] when forward runs (PyTorch's error
//   otherwise); the factory's replicas are moved to their devices. Each forward copies chunk i
//   to device_ids[i] and the replica runs on that device's compute stream; outputs are gathered
//   on output_device (default device_ids[0]; the CPU is allowed), and backward sends each
//   replica's gradients home and sums them into module()'s on device_ids[0]. Copies between
//   devices are differentiable (Tensor::to), so the input's gradient comes back to its device.
//   Copies between GPUs wait for the source device's queued work (peer transfers synchronise),
//   which costs overlap; DistributedDataParallel (one process per GPU) is the faster route, as
//   in PyTorch.
// Replica 0 runs on the calling thread, the others on a pool of num_replicas - 1 threads owned
// by the DataParallel; grad mode is passed to them. An exception in a replica's forward is
// rethrown on the caller, naming the replica.
//
// Differences from a single model that follow from running replicas on chunks, as in PyTorch:
// - BatchNorm normalises each chunk with its own statistics, and each replica updates its own
//   running statistics from its chunk. Only replica 0's are kept: module()'s running stats
//   follow the first chunk, and the next forward overwrites the other replicas' from replica 0.
// - Dropout: replica 0's Dropout modules keep their generator (the user's, or the default one:
//   replica 0 runs on the calling thread, where the default generator belongs). Every other
//   replica gets a Generator of its own, shared by its Dropout modules (they run one after the
//   other on that replica's thread), replacing any the factory set, because a generator used
//   from two threads is a data race. At each forward with a Dropout in training mode those
//   generators are reseeded from default_generator(), so manual_seed makes runs reproducible.
//   Random ops without a generator inside a replica's forward (randn in a custom module) would
//   share the default generator across threads: give such modules their own generator.
// - Replicas must not share tensors that require grad (build fresh modules in the factory):
//   recording autograd history for one tensor from two threads is a data race.
// - Gradients are summed into replica 0's .grad by an engine callback after the whole backward
//   has run, so hooks on module()'s parameters during backward see replica 0's part only (and
//   wrapping a DataParallel in DistributedDataParallel would all-reduce that part: use one or
//   the other).
// - One forward at a time: a DataParallel is not meant to be called from several threads.
#pragma once

#include <functional>  // std::function
#include <memory>
#include <optional>
#include <vector>

#include "framework/nn/dropout.h"     // nn::Dropout (its generator is replaced per replica)
#include "framework/nn/module.h"      // nn::Module, nn::ModulePtr
#include "parallel/fork_join_pool.h"  // ForkJoinPool

namespace tandem::parallel {

struct DataParallelOptions {
  int64_t dim = 0;  // inputs are split and outputs concatenated along this dimension (torch's dim)
  std::vector<Device> device_ids{};       // one replica per device (see above); empty: module()'s
  std::optional<Device> output_device{};  // where outputs are gathered; default device_ids[0]
};

class DataParallel : public nn::Module {
 public:
  using ReplicaFactory = std::function<nn::ModulePtr()>;

  // Builds num_replicas models with make_replica (0: one per hardware thread, at most 8, or one
  // per options.device_ids).
  explicit DataParallel(ReplicaFactory make_replica, int num_replicas = 0,
                        DataParallelOptions options = {});
  // Wraps an existing model as replica 0; make_replica builds the others.
  DataParallel(nn::ModulePtr module, ReplicaFactory make_replica, int num_replicas = 0,
               DataParallelOptions options = {});
  ~DataParallel() override;

  Tensor forward(const Tensor& x) override;
  // Every input is split along dim (all must have the same size there); output k of every
  // replica is concatenated into output k.
  std::vector<Tensor> forward_many(const std::vector<Tensor>& xs) override;

  nn::ModulePtr module() const { return replicas_[0].module; }
  int num_replicas() const { return int(replicas_.size()); }
  nn::ModulePtr replica(int i) const { return replicas_.at(size_t(i)).module; }
  // The device replica i runs on: device_ids[i], or module()'s device without device_ids.
  Device replica_device(int i) const;

 private:
  // What the last copy from replica 0 saw: skip the copy while neither side changed.
  struct Stamp {
    std::weak_ptr<StorageImpl> storage;
    uint32_t version = 0;
  };
  struct Replica {
    nn::ModulePtr module;
    std::vector<Tensor> state;  // named_parameters, then named_buffers
    size_t num_params = 0;
    std::vector<nn::ModulePtr> modules;  // named_modules, for the train/eval flags
    std::vector<std::shared_ptr<nn::Dropout>> dropouts;
    std::shared_ptr<Generator> generator;  // replicas 1..n-1: their Dropouts' generator
    std::vector<Stamp> source_stamps;      // replica 0's state at the last copy
    std::vector<Stamp> own_stamps;         // this replica's state right after it
    std::vector<int> hooks;                // post-accumulate-grad hooks on the parameters
  };

  void add_replica(nn::ModulePtr module);
  void check_module_device() const;
  void sync_replicas(int used);
  void reseed_dropout(int used);
  std::vector<std::vector<Tensor>> run_replicas(const std::vector<std::vector<Tensor>>& chunks,
                                                bool many);
  std::vector<Tensor> parallel_forward(const std::vector<Tensor>& xs, bool many);
  void on_replica_grad();
  void reduce_gradients();

  DataParallelOptions opts_;
  std::vector<Replica> replicas_;
  std::unique_ptr<ForkJoinPool> pool_;
  bool reduce_queued_ = false;  // a reduce_gradients callback waits for this backward's end
};

}  // namespace tandem::parallel
