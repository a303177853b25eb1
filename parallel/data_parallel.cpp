// DataParallel (see data_parallel.h).
#include "parallel/data_parallel.h"

#include <algorithm>
#include <thread>  // std::thread::hardware_concurrency

#include "framework/autograd/engine.h"     // autograd::queue_callback
#include "framework/autograd/grad_mode.h"  // GradMode, NoGradGuard, EnableGradGuard
#include "framework/ops/shape_ops.h"       // cat
#include "kernels/device/context.h"        // DeviceGuard

namespace tandem::parallel {
namespace {

// num_replicas = 0: one replica per hardware thread, but no more than this (beyond it the
// chunks get small and the copies and thread hand-offs dominate).
constexpr int kMaxDefaultReplicas = 8;

int resolve_num_replicas(int n, const DataParallelOptions& options) {
  TANDEM_CHECK(n >= 0,
               "DataParallel: num_replicas must be >= 0 (0 = one per hardware thread), got ", n);
  const int devices = int(options.device_ids.size());
  if (devices > 0) {
    TANDEM_CHECK(n == 0 || n == devices, "DataParallel: num_replicas is ", n, " but ", devices,
                 " device_ids are given (one replica per device; pass 0)");
    for (size_t i = 0; i < options.device_ids.size(); ++i)
      for (size_t j = 0; j < i; ++j)
        TANDEM_CHECK(options.device_ids[i] != options.device_ids[j], "DataParallel: device ",
                     options.device_ids[i].str(), " appears twice in device_ids");
    return devices;
  }
  TANDEM_CHECK(!options.output_device, "DataParallel: output_device needs device_ids");
  if (n > 0) return n;
  return std::clamp(int(std::thread::hardware_concurrency()), 1, kMaxDefaultReplicas);
}

nn::ModulePtr build(const DataParallel::ReplicaFactory& make_replica) {
  TANDEM_CHECK(make_replica != nullptr, "DataParallel: make_replica is empty");
  return make_replica();
}

// Why `other` cannot serve as a replica of `first` (empty if it can): it must have the same
// submodules, parameters and buffers (names, shapes, dtypes).
std::string structure_mismatch(nn::Module& first, nn::Module& other) {
  auto m0 = first.named_modules(), m1 = other.named_modules();
  if (m0.size() != m1.size())
    return std::to_string(m1.size()) + " submodules where replica 0 has " +
           std::to_string(m0.size());
  for (size_t i = 0; i < m0.size(); ++i)
    if (m0[i].first != m1[i].first || m0[i].second->name() != m1[i].second->name())
      return "submodule '" + m1[i].first + "' (" + m1[i].second->name() +
             ") where replica 0 has '" + m0[i].first + "' (" + m0[i].second->name() + ")";
  for (const bool params : {true, false}) {
    const std::string kind = params ? "parameter" : "buffer";
    auto t0 = params ? first.named_parameters() : first.named_buffers();
    auto t1 = params ? other.named_parameters() : other.named_buffers();
    if (t0.size() != t1.size())
      return std::to_string(t1.size()) + " " + kind + "s where replica 0 has " +
             std::to_string(t0.size());
    for (size_t i = 0; i < t0.size(); ++i) {
      const auto& [name, a] = t0[i];
      const auto& b = t1[i].second;
      if (t1[i].first != name || a.sizes() != b.sizes() || a.dtype() != b.dtype())
        return kind + " '" + t1[i].first + "' " + shape_str(b.sizes()) + " " +
               dtype_name(b.dtype()) + " where replica 0 has '" + name + "' " +
               shape_str(a.sizes()) + " " + dtype_name(a.dtype());
    }
  }
  return {};
}

// The first submodule or tensor that `other` shares with `earlier` (same architecture), or "".
// Replicas run concurrently, so they must share nothing.
std::string shared_part(nn::Module& earlier, nn::Module& other) {
  auto m0 = earlier.named_modules(), m1 = other.named_modules();
  for (size_t i = 0; i < m0.size(); ++i)
    if (m0[i].second == m1[i].second) return "submodule '" + m0[i].first + "'";
  auto p0 = earlier.named_parameters(), p1 = other.named_parameters();
  for (size_t i = 0; i < p0.size(); ++i)
    if (p0[i].second.storage() == p1[i].second.storage()) return "parameter '" + p0[i].first + "'";
  auto b0 = earlier.named_buffers(), b1 = other.named_buffers();
  for (size_t i = 0; i < b0.size(); ++i)
    if (b0[i].second.storage() == b1[i].second.storage()) return "buffer '" + b0[i].first + "'";
  return {};
}

// Rethrows a replica's exception as a tandem::Error whose message names the replica.
[[noreturn]] void rethrow_from_replica(const std::exception_ptr& error, int replica,
                                       const std::vector<Tensor>& chunk) {
  std::string where = "DataParallel: replica " + std::to_string(replica) +
                      " failed in forward on its chunk of shape " + shape_str(chunk[0].sizes());
  if (chunk.size() > 1) where += " (input 0)";
  try {
    std::rethrow_exception(error);
  } catch (const Error& e) {
    throw Error(where + ": " + e.what(), e.hint());
  } catch (const std::exception& e) {
    throw Error(where + ": " + e.what());
  } catch (...) {
    throw Error(where + ": a non-standard exception");
  }
}

}  // namespace

DataParallel::DataParallel(ReplicaFactory make_replica, int num_replicas,
                           DataParallelOptions options)
    : DataParallel(build(make_replica), make_replica, num_replicas, options) {}

DataParallel::DataParallel(nn::ModulePtr module, ReplicaFactory make_replica, int num_replicas,
                           DataParallelOptions options)
    : nn::Module("DataParallel"), opts_(options) {
  TANDEM_CHECK(module != nullptr, "DataParallel: the module is null");
  const int n = resolve_num_replicas(num_replicas, opts_);
  register_module("module", module);
  add_replica(module);
  for (int i = 1; i < n; ++i) {
    add_replica(build(make_replica));
    // On its own device from the start (sync_replicas keeps it there, in replica 0's dtype).
    if (!opts_.device_ids.empty()) replicas_.back().module->to(opts_.device_ids[size_t(i)]);
  }
  pool_ = std::make_unique<ForkJoinPool>(n - 1);
}

DataParallel::~DataParallel() {
  for (auto& r : replicas_)
    for (size_t k = 0; k < r.hooks.size(); ++k)
      if (r.hooks[k] >= 0) r.state[k].remove_hook(r.hooks[k]);
}

void DataParallel::add_replica(nn::ModulePtr module) {
  const int index = int(replicas_.size());
  TANDEM_CHECK(module != nullptr, "DataParallel: make_replica returned null for replica ", index);
  if (index > 0) {
    const std::string why = structure_mismatch(*replicas_[0].module, *module);
    if (!why.empty())
      throw Error("DataParallel: replica " + std::to_string(index) +
                      " built by make_replica differs from replica 0: " + why,
                  "make_replica must build a new model of the same architecture on every call");
    for (size_t k = 0; k < replicas_.size(); ++k) {
      const std::string shared = shared_part(*replicas_[k].module, *module);
      if (!shared.empty())
        throw Error("DataParallel: replica " + std::to_string(index) + " shares its " + shared +
                        " with replica " + std::to_string(k) +
                        "; replicas run concurrently and must share nothing",
                    "make_replica must build a new model on every call, not reuse modules");
    }
  }
  Replica r;
  r.module = std::move(module);
  for (auto& [name, p] : r.module->named_parameters()) r.state.push_back(p);
  r.num_params = r.state.size();
  for (auto& [name, b] : r.module->named_buffers()) r.state.push_back(b);
  for (auto& [name, m] : r.module->named_modules()) {
    r.modules.push_back(m);
    if (auto d = std::dynamic_pointer_cast<nn::Dropout>(m)) r.dropouts.push_back(d);
  }
  if (index > 0) {
    // This replica's thread owns its Dropouts' random stream (see the header).
    r.generator = std::make_shared<Generator>();
    for (auto& d : r.dropouts) d->generator = r.generator;
    r.source_stamps.resize(r.state.size());  // empty stamps: the first forward copies all
    r.own_stamps.resize(r.state.size());
    r.hooks.assign(r.num_params, -1);  // registered by sync_replicas once grads are required
  }
  replicas_.push_back(std::move(r));
}

Device DataParallel::replica_device(int i) const {
  if (!opts_.device_ids.empty()) return opts_.device_ids.at(size_t(i));
  const auto& state = replicas_[0].state;
  return state.empty() ? kCPU : state[0].device();
}

void DataParallel::check_module_device() const {
  if (opts_.device_ids.empty()) return;
  const Device home = opts_.device_ids[0];
  for (const Tensor& t : replicas_[0].state)
    if (t.device() != home)
      throw Error("DataParallel: module must have its parameters and buffers on device " +
                      home.str() +
                      " (device_ids[0]) but found one of them on device: " + t.device().str(),
                  "move the model first: module()->to(" + home.str() + ")");
}

Tensor DataParallel::forward(const Tensor& x) { return parallel_forward({x}, false)[0]; }

std::vector<Tensor> DataParallel::forward_many(const std::vector<Tensor>& xs) {
  return parallel_forward(xs, true);
}

std::vector<Tensor> DataParallel::parallel_forward(const std::vector<Tensor>& xs, bool many) {
  check_module_device();
  const Device output_device =
      opts_.output_device.value_or(opts_.device_ids.empty() ? kCPU : opts_.device_ids[0]);
  // One replica: nothing to split, as torch's DataParallel with a single device.
  if (replicas_.size() == 1 && opts_.device_ids.empty())
    return many ? module()->forward_many(xs) : std::vector<Tensor>{module()->forward(xs[0])};

  // Scatter: torch.chunk's split (chunks of ceil(N / n), the last smaller, fewer chunks when
  // N is small). Each chunk is a copy on its replica's device, as torch's scatter: replicas
  // then share no storage with the caller's batch or with each other, so an in-place op on an
  // input cannot race on the shared storage's version counter.
  TANDEM_CHECK(!xs.empty(), "DataParallel: forward needs at least one input");
  for (const auto& x : xs)
    TANDEM_CHECK(x.defined() && x.dim() > 0, "DataParallel: inputs must have a dimension ",
                 opts_.dim, " to split the batch along");
  const int64_t d = wrap_dim(opts_.dim, xs[0].dim(), "DataParallel dim");
  const int64_t batch = xs[0].size(d);
  for (size_t j = 1; j < xs.size(); ++j)
    TANDEM_CHECK(xs[j].dim() > d && xs[j].size(d) == batch, "DataParallel: input ", j,
                 " has shape ", shape_str(xs[j].sizes()), " but input 0 has ", batch,
                 " entries along dim ", d);
  const int64_t n = int64_t(replicas_.size());
  const int64_t chunk = std::max<int64_t>(1, (batch + n - 1) / n);
  const int used = batch == 0 ? 1 : int((batch + chunk - 1) / chunk);
  std::vector<std::vector<Tensor>> chunks(static_cast<size_t>(used));
  for (int i = 0; i < used; ++i) {
    const int64_t start = i * chunk, length = std::min(chunk, batch - start);
    const Device device = replica_device(i);
    for (const auto& x : xs) {
      const Tensor part = x.narrow(d, start, length);
      chunks[size_t(i)].push_back(part.device() == device ? part.clone() : part.to(device));
    }
  }

  sync_replicas(used);
  reseed_dropout(used);
  // A backward that threw before its end never ran its callback: forget it was queued.
  reduce_queued_ = false;
  auto outputs = run_replicas(chunks, many);

  // Gather: output k of every replica, concatenated along dim. Scalars (a per-chunk loss)
  // become one entry per chunk, as torch's gather does.
  std::vector<Tensor> result;
  for (size_t k = 0; k < outputs[0].size(); ++k) {
    std::vector<Tensor> parts;
    for (int i = 0; i < used; ++i) {
      const auto& out = outputs[size_t(i)];
      TANDEM_CHECK(out.size() == outputs[0].size(), "DataParallel: replica ", i, " returned ",
                   out.size(), " outputs, replica 0 returned ", outputs[0].size());
      Tensor part = out[k].dim() == 0 ? out[k].unsqueeze(0) : out[k];
      if (!opts_.device_ids.empty() && part.device() != output_device)
        part = part.to(output_device);
      parts.push_back(part);
    }
    const bool scalars = outputs[0][k].dim() == 0;
    result.push_back(parts.size() == 1 ? parts[0] : cat(parts, scalars ? 0 : opts_.dim));
  }
  return result;
}

void DataParallel::sync_replicas(int used) {
  NoGradGuard no_grad;
  const Replica& first = replicas_[0];
  auto unchanged = [](const Tensor& t, const Stamp& s) {
    return s.storage.lock() == t.storage() && s.version == t.version();
  };
  for (int i = 1; i < used; ++i) {
    Replica& r = replicas_[size_t(i)];
    for (size_t j = 0; j < first.state.size(); ++j) {
      const Tensor& src = first.state[j];
      Tensor& dst = r.state[j];
      const Device device = replica_device(i);
      if (dst.dtype() != src.dtype() || dst.device() != device) {
        // module()->to(...) converted replica 0 only (the others are not registered children).
        r.module->to(device,
                     is_floating(src.dtype()) ? std::optional<DType>(src.dtype()) : std::nullopt);
      }
      if (j < r.num_params) {
        if (dst.requires_grad() != src.requires_grad()) dst.set_requires_grad(src.requires_grad());
        if (dst.requires_grad() && r.hooks[j] < 0)
          r.hooks[j] =
              dst.register_post_accumulate_grad_hook([this](const Tensor&) { on_replica_grad(); });
      }
      if (unchanged(src, r.source_stamps[j]) && unchanged(dst, r.own_stamps[j])) continue;
      dst.copy_(src);
      r.source_stamps[j] = Stamp{src.storage(), src.version()};
      r.own_stamps[j] = Stamp{dst.storage(), dst.version()};
    }
    // Modules in pre-order: train(flag) recurses, and descendants are corrected after it.
    for (size_t j = 0; j < first.modules.size(); ++j) {
      const bool mode = first.modules[j]->is_training();
      if (r.modules[j]->is_training() != mode) r.modules[j]->train(mode);
    }
    for (size_t j = 0; j < first.dropouts.size(); ++j) r.dropouts[j]->p = first.dropouts[j]->p;
  }
}

void DataParallel::reseed_dropout(int used) {
  bool drawing = false;
  for (const auto& d : replicas_[0].dropouts) drawing = drawing || (d->is_training() && d->p > 0);
  if (!drawing) return;
  // On the calling thread, before any replica runs: replica 0 may draw from this generator.
  for (int i = 1; i < used; ++i)
    replicas_[size_t(i)].generator->manual_seed(default_generator().random64());
}

std::vector<std::vector<Tensor>> DataParallel::run_replicas(
    const std::vector<std::vector<Tensor>>& chunks, bool many) {
  const bool grad_mode = GradMode::is_enabled();  // thread_local: pass it to the pool threads
  std::vector<std::vector<Tensor>> outputs(chunks.size());
  auto errors = pool_->run(int(chunks.size()), [&](int i) {
    // The replica's device is current on its thread, so its kernels queue on that device's
    // stream (context_for sets it per op as well; this also covers a module's own CUDA calls).
    const Device device = replica_device(i);
    std::optional<kernels::device::DeviceGuard> on_device;
    if (device.is_cuda()) on_device.emplace(device.index);
    nn::Module& m = *replicas_[size_t(i)].module;
    const auto& in = chunks[size_t(i)];
    auto run = [&] { return many ? m.forward_many(in) : std::vector<Tensor>{m.forward(in[0])}; };
    if (grad_mode) {
      EnableGradGuard guard;
      outputs[size_t(i)] = run();
    } else {
      NoGradGuard guard;
      outputs[size_t(i)] = run();
    }
  });
  for (size_t i = 0; i < errors.size(); ++i)
    if (errors[i]) rethrow_from_replica(errors[i], int(i), chunks[i]);
  return outputs;
}

void DataParallel::on_replica_grad() {
  // One reduction per backward, after its last node: every replica's gradients are complete.
  if (reduce_queued_) return;
  reduce_queued_ = true;
  autograd::queue_callback([this] { reduce_gradients(); });
}

void DataParallel::reduce_gradients() {
  reduce_queued_ = false;
  NoGradGuard no_grad;
  Replica& first = replicas_[0];
  for (size_t i = 1; i < replicas_.size(); ++i) {
    Replica& r = replicas_[i];
    for (size_t k = 0; k < r.num_params; ++k) {
      Tensor g = r.state[k].grad();
      if (!g.defined()) continue;
      r.state[k].set_grad(Tensor());  // undefined again: the next backward starts from nothing
      const Tensor& p = first.state[k];
      if (g.device() != p.device()) g = g.to(p.device());  // home to device_ids[0]
      Tensor sum = p.grad();
      if (sum.defined())
        sum.add_(g);  // in place: views of .grad (DDP buckets) stay valid
      else
        p.set_grad(g);  // the replica's buffer is no longer referenced there: take it
    }
  }
}

}  // namespace tandem::parallel
