// DistributedDataParallel (see ddp.h).
#include "parallel/ddp.h"

#include "framework/autograd/grad_mode.h"
#include "framework/tensor/factories.h"

namespace tandem::parallel {
namespace {

// Every rank must hold the same parameter shapes: compare against rank 0's, naming the first
// mismatch and the rank that has it.
void verify_shapes(const std::vector<std::pair<std::string, Tensor>>& params, ProcessGroup& pg) {
  std::vector<int64_t> mine{int64_t(params.size())};
  for (const auto& [name, p] : params) {
    mine.push_back(p.dim());
    for (int64_t s : p.sizes()) mine.push_back(s);
  }
  Tensor count = from_vector(std::vector<int64_t>{int64_t(mine.size())}, {1});
  std::vector<Tensor> counts;
  for (int r = 0; r < pg.size(); ++r) counts.push_back(zeros({1}, TensorOptions(DType::Int64)));
  pg.allgather(counts, count)->wait();
  Tensor reference = from_vector(mine, {int64_t(mine.size())});
  int64_t n0 = counts[0].item<int64_t>();
  Tensor r0 = pg.rank() == 0 ? reference : zeros({n0}, TensorOptions(DType::Int64));
  pg.broadcast(r0, 0)->wait();
  const int64_t* ref = r0.data_ptr<int64_t>();
  std::string mismatch;
  if (ref[0] != mine[0]) {
    mismatch = "DDP expects same model across all ranks, but Rank " + std::to_string(pg.rank()) +
               " has " + std::to_string(mine[0]) + " params, while rank 0 has inconsistent " +
               std::to_string(ref[0]) + " params.";
  } else {
    size_t at = 1;
    for (const auto& [name, p] : params) {
      bool same = at < size_t(n0) && ref[at] == p.dim();
      for (int64_t d = 0; same && d < p.dim(); ++d)
        same = at + 1 + size_t(d) < size_t(n0) && ref[at + 1 + size_t(d)] == p.size(d);
      if (!same) {
        mismatch = "DDP expects same model across all ranks, but rank " +
                   std::to_string(pg.rank()) + " has parameter '" + name + "' of shape " +
                   shape_str(p.sizes()) + " where rank 0's differs";
        break;
      }
      at += 1 + size_t(p.dim());
    }
  }
  // Everyone learns whether anyone mismatched, so all ranks fail together.
  Tensor bad = from_vector(std::vector<int64_t>{mismatch.empty() ? 0 : 1}, {1});
  pg.allreduce(bad, ReduceOp::Max)->wait();
  if (!mismatch.empty()) throw Error(mismatch, "build the same model (same config) on every rank");
  if (bad.item() > 0)
    throw Error("DDP: another rank's model differs from rank 0's (see its error)");
}

void broadcast_all(const std::vector<Tensor>& tensors, ProcessGroup& pg) {
  NoGradGuard no_grad;
  std::vector<std::shared_ptr<Work>> works;
  std::vector<Tensor> staged;
  for (const auto& t : tensors) {
    Tensor c = t.contiguous();
    works.push_back(pg.broadcast(c, 0));
    staged.push_back(c);
  }
  for (size_t i = 0; i < tensors.size(); ++i) {
    works[i]->wait();
    if (!staged[i].is_same(tensors[i])) {
      Tensor dst = tensors[i];
      dst.copy_(staged[i]);
    }
  }
}

}  // namespace

DistributedDataParallel::DistributedDataParallel(nn::ModulePtr module,
                                                 std::shared_ptr<ProcessGroup> pg,
                                                 DdpOptions options)
    : nn::Module("DistributedDataParallel"), module_(module), pg_(std::move(pg)), opts_(options) {
  TANDEM_CHECK(pg_ != nullptr, "DistributedDataParallel needs a process group");
  register_module("module", module_);
  std::vector<std::pair<std::string, Tensor>> params;
  for (auto& [name, p] : module_->named_parameters())
    if (p.requires_grad()) params.emplace_back(name, p);
  verify_shapes(params, *pg_);
  std::vector<Tensor> state;
  for (auto& [name, p] : module_->named_parameters()) state.push_back(p);
  for (auto& [name, b] : module_->named_buffers()) state.push_back(b);
  broadcast_all(state, *pg_);  // every rank starts from rank 0's weights
  ReducerOptions ro;
  ro.bucket_cap_mb = opts_.bucket_cap_mb;
  ro.find_unused_parameters = opts_.find_unused_parameters;
  ro.gradient_as_bucket_view = opts_.gradient_as_bucket_view;
  reducer_ = std::make_unique<Reducer>(std::move(params), pg_, ro);
}

void DistributedDataParallel::sync_buffers() {
  if (pg_->size() == 1) return;
  std::vector<Tensor> buffers;
  for (auto& [name, b] : module_->named_buffers()) buffers.push_back(b);
  if (!buffers.empty()) broadcast_all(buffers, *pg_);
}

void DistributedDataParallel::before_forward() {
  // Buffers follow rank 0, except on the forward right after a no_sync or no-grad one.
  if (opts_.broadcast_buffers && buffers_need_sync_) sync_buffers();
  const bool sync = GradMode::is_enabled() && reducer_->sync();
  if (sync) reducer_->prepare_for_backward();
  buffers_need_sync_ = sync;
}

Tensor DistributedDataParallel::forward(const Tensor& x) {
  before_forward();
  return module_->forward(x);
}

std::vector<Tensor> DistributedDataParallel::forward_many(const std::vector<Tensor>& xs) {
  before_forward();
  return module_->forward_many(xs);
}

}  // namespace tandem::parallel
