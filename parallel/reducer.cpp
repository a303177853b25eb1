// Reducer (see reducer.h).
#include "parallel/reducer.h"

#include <algorithm>
#include <string>

#include "framework/autograd/engine.h"
#include "framework/autograd/grad_mode.h"
#include "framework/tensor/factories.h"
#include "parallel/rank_helpers.h"

namespace tandem::parallel {

Reducer::Reducer(std::vector<std::pair<std::string, Tensor>> params,
                 std::shared_ptr<ProcessGroup> pg, ReducerOptions options)
    : params_(std::move(params)), pg_(std::move(pg)), opts_(options) {
  // Buckets over parameters in reverse order, grouped by dtype and device; the first of each
  // dtype and device closes at first_bucket_mb, the rest at bucket_cap_mb (PyTorch's limits per
  // key in compute_bucket_assignment_by_size).
  bucket_of_.assign(params_.size(), 0);
  slot_of_.assign(params_.size(), 0);
  std::vector<std::vector<size_t>> groups;
  std::vector<DType> group_dtype;
  std::vector<Device> group_device;
  std::vector<size_t> group_bytes;
  // True when no earlier bucket has the dtype and device of group g.
  auto first_of_its_kind = [&](size_t g) {
    for (size_t i = 0; i < g; ++i)
      if (group_dtype[i] == group_dtype[g] && group_device[i] == group_device[g]) return false;
    return true;
  };
  auto cap_for = [&](size_t g) {
    const double mb = first_of_its_kind(g) ? std::min(opts_.first_bucket_mb, opts_.bucket_cap_mb)
                                           : opts_.bucket_cap_mb;
    return size_t(mb * 1024 * 1024);
  };
  for (size_t k = params_.size(); k-- > 0;) {
    const Tensor& p = params_[k].second;
    size_t g = groups.size();
    for (size_t i = 0; i < groups.size(); ++i)
      if (group_dtype[i] == p.dtype() && group_device[i] == p.device() &&
          group_bytes[i] != SIZE_MAX)
        g = i;
    if (g == groups.size()) {
      groups.emplace_back();
      group_dtype.push_back(p.dtype());
      group_device.push_back(p.device());
      group_bytes.push_back(0);
    }
    groups[g].push_back(k);
    group_bytes[g] += p.nbytes();
    if (group_bytes[g] >= cap_for(g))
      group_bytes[g] = SIZE_MAX;  // closed: the next param opens a new bucket
  }
  for (auto& members : groups) {
    Bucket b;
    int64_t offset = 0;
    const Tensor& first = params_[members[0]].second;
    for (size_t k : members) {
      bucket_of_[k] = buckets_.size();
      slot_of_[k] = b.params.size();
      b.params.push_back(k);
      b.offsets.push_back(offset);
      offset += params_[k].second.numel();
    }
    b.flat = zeros({offset}, TensorOptions(first.dtype()).with_device(first.device()));
    for (size_t i = 0; i < members.size(); ++i) {
      const Tensor& p = params_[members[i]].second;
      b.views.push_back(b.flat.narrow(0, b.offsets[i], p.numel()).view(p.sizes()));
    }
    buckets_.push_back(std::move(b));
  }
  verify_same_buckets_on_all_ranks();
  ready_.assign(params_.size(), false);
  used_anywhere_.assign(params_.size(), true);
  if (opts_.find_unused_parameters && !buckets_.empty()) {
    const int64_t n = int64_t(params_.size());
    used_host_ = zeros({n}, TensorOptions(DType::Float32));
    used_ = used_host_.to(buckets_[0].flat.device());
  }
  for (size_t k = 0; k < params_.size(); ++k) {
    hooks_.push_back(params_[k].second.register_post_accumulate_grad_hook(
        [this, k](const Tensor&) { on_grad_ready(k); }));
  }
}

Reducer::~Reducer() {
  for (size_t k = 0; k < params_.size(); ++k) params_[k].second.remove_hook(hooks_[k]);
}

void Reducer::verify_same_buckets_on_all_ranks() {
  if (pg_->size() == 1) return;
  std::vector<int64_t> mine;  // (elements, dtype) per bucket
  for (const auto& b : buckets_) {
    mine.push_back(b.flat.numel());
    mine.push_back(int64_t(b.flat.dtype()));
  }
  const auto all = allgather_vectors(*pg_, mine);
  const auto layouts = group_ranks_by_value(all);
  if (layouts.size() == 1) return;
  // Every rank has every layout, so every rank throws the same message: no rank waits alone.
  std::string what =
      "DDP: the ranks built different gradient buckets (an all-reduce of them would "
      "mix unrelated memory):";
  for (size_t i = 0; i < layouts.size(); ++i) {
    const auto& [l, ranks] = layouts[i];
    what += std::string(i ? ";" : "") + " " + rank_names(ranks) + ": " +
            std::to_string(l.size() / 2) + " bucket(s) of";
    for (size_t b = 0; b + 1 < l.size(); b += 2)
      what += std::string(b ? "," : "") + " " + std::to_string(l[b]) + " " +
              dtype_name(DType(l[b + 1]));
  }
  throw AllRanksError(
      what + " elements",
      "every rank must build the same model with the same distributed.bucket_cap_mb");
}

std::vector<std::vector<std::string>> Reducer::bucket_parameter_names() const {
  std::vector<std::vector<std::string>> out;
  for (const auto& b : buckets_) {
    out.emplace_back();
    for (size_t k : b.params) out.back().push_back(params_[k].first);
  }
  return out;
}

void Reducer::prepare_for_backward() {
  // Only a backward that started (a gradient reached a hook) and left buckets unreduced is an
  // error: a forward without a backward (a loss computed with grad mode on) is not, as PyTorch.
  if (expecting_ && callback_queued_ && next_bucket_ < buckets_.size()) {
    std::string indices, names;  // PyTorch lists the indices; the names say which layer
    for (size_t k = 0; k < params_.size(); ++k)
      if (!ready_[k]) {
        indices += ' ';
        indices += std::to_string(k);
        if (!names.empty()) names += ", ";
        names += params_[k].first;
      }
    throw Error(
        detail::concat(
            "Expected to have finished reduction in the prior iteration before starting a new "
            "one. This error indicates that your module has parameters that were not used in "
            "producing loss.\nParameter indices which did not receive grad for rank ",
            pg_->rank(), ":", indices, " (", names, ")"),
        "set distributed.find_unused_parameters: true, or make sure every parameter takes part in "
        "the loss");
  }
  expecting_ = sync_;
  next_bucket_ = 0;
  callback_queued_ = false;
  for (auto& b : buckets_) {
    b.pending = b.params.size();
    b.work.reset();
  }
  std::fill(ready_.begin(), ready_.end(), false);
}

void Reducer::on_grad_ready(size_t k) {
  if (!expecting_ || !sync_ || ready_[k]) return;
  if (!callback_queued_) {
    callback_queued_ = true;
    autograd::queue_callback([this] { finalize(); });
  }
  ready_[k] = true;
  Bucket& b = buckets_[bucket_of_[k]];
  const Tensor& p = params_[k].second;
  Tensor& view = b.views[slot_of_[k]];
  {
    NoGradGuard no_grad;
    // A plain copy (in place: no allocation per step); the average is the collective's
    // (ReduceOp::Average: ncclAvg on GPUs, the sum divided on the communication thread over
    // MPI), so the backward pass spends no second pass over the bucket on it.
    const Tensor& g = p.grad();
    if (g.defined())
      view.copy_(g);
    else
      view.zero_();
  }
  if (--b.pending == 0) launch_ready_buckets();
}

void Reducer::launch_ready_buckets() {
  // Strictly in index order: a later bucket waits for every earlier one to be full.
  while (next_bucket_ < buckets_.size() && buckets_[next_bucket_].pending == 0) {
    Bucket& b = buckets_[next_bucket_++];
    b.work = pg_->allreduce(b.flat, ReduceOp::Average);
  }
}

void Reducer::reduce_used_flags() {
  NoGradGuard no_grad;
  // used_host_ holds this rank's flags (finalize wrote them before marking the unused ready).
  float* flags = used_host_.data_ptr<float>();
  if (!used_.is_same(used_host_)) used_.copy_(used_host_);
  pg_->allreduce(used_, ReduceOp::Max)->wait();
  if (!used_.is_same(used_host_)) used_host_.copy_(used_);
  for (size_t k = 0; k < params_.size(); ++k) used_anywhere_[k] = flags[k] != 0.0f;
}

void Reducer::finalize() {
  launched_before_end_ = int64_t(next_bucket_);
  const bool track_used = opts_.find_unused_parameters && !buckets_.empty();
  if (track_used) {  // which parameters took part here, before the unused ones are marked ready
    float* flags = used_host_.data_ptr<float>();
    for (size_t k = 0; k < params_.size(); ++k) flags[k] = ready_[k] ? 1.0f : 0.0f;
  }
  // Parameters that produced no gradient this iteration.
  for (size_t k = 0; k < params_.size(); ++k) {
    if (ready_[k]) continue;
    if (!opts_.find_unused_parameters) continue;  // the reduction stays unfinished: error next time
    ready_[k] = true;
    Bucket& b = buckets_[bucket_of_[k]];
    NoGradGuard no_grad;
    b.views[slot_of_[k]].zero_();
    if (--b.pending == 0) launch_ready_buckets();
  }
  if (next_bucket_ < buckets_.size()) return;  // unfinished: prepare_for_backward will report it
  // Only now, after every bucket: collectives must be queued in one order on every rank, and a
  // bucket that one rank filled during backward another fills just above.
  if (track_used) reduce_used_flags();
  NoGradGuard no_grad;
  for (auto& b : buckets_) {
    b.work->wait();
    for (size_t i = 0; i < b.params.size(); ++i) {
      Tensor& p = params_[b.params[i]].second;
      const Tensor& view = b.views[i];
      // Used on no rank: .grad stays as it was (None, or last step's), as PyTorch's reducer.
      if (!used_anywhere_[b.params[i]]) continue;
      if (opts_.gradient_as_bucket_view) {
        p.set_grad(view);
      } else if (p.grad().defined()) {
        Tensor g = p.grad();
        g.copy_(view);
      } else {
        p.set_grad(view.clone());  // no .grad yet (first step, or used on other ranks only)
      }
    }
  }
  expecting_ = false;
}

}  // namespace tandem::parallel
