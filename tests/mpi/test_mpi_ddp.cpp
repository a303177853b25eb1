// DistributedDataParallel on 2-4 ranks: k ranks with batch B/k train like one process with
// batch B; no_sync accumulation equals one large batch; buckets follow the cap and their
// all-reduce starts while backward is still running; BatchNorm buffers follow rank 0;
// sync_buffers hands rank 0's statistics to all; different models on different ranks are
// refused naming the rank, and so are different bucket layouts (a bucket_cap_mb per rank). On
// every device (DdpOnDevice/*/cpu, .../cuda: each rank's model on cuda:local_rank, gradients
// reduced through the backend `auto` picks, MPI staged through the host on the emulated device):
// the same training as one process and as DDP on the CPU, gradient_as_bucket_view with the
// gradients in device buckets, no_sync, and rank 0's parameters and buffers broadcast.
#include <map>
#include <string>

#include "framework/autograd/grad_mode.h"
#include "framework/nn/nn.h"
#include "framework/ops/ops.h"
#include "framework/optim/sgd.h"
#include "kernels/device/context.h"
#include "parallel/ddp.h"
#include "parallel/process_group_auto.h"
#include "parallel/process_group_mpi.h"
#include "tests/device_compare.h"
#include "tests/device_test.h"
#include "tests/error_text.h"
#include "tests/mpi/mpi_main.h"
#include "tests/small_models.h"

using namespace tandem;
using namespace tandem::parallel;

namespace {

const World& world() { return init_distributed(); }

nn::ModulePtr mlp(uint64_t seed) { return tandem::testing::small_mlp(seed); }
nn::ModulePtr cnn(uint64_t seed) { return tandem::testing::small_cnn(seed); }

// The full batch for step s: 12 examples of `features` values (divisible by 2, 3 and 4 ranks).
std::pair<Tensor, Tensor> batch(int s, int64_t features = 6) {
  Generator gen(100 + uint64_t(s));
  Tensor x = randn({12, features}, gen);
  return {x, tandem::testing::random_targets(12, gen)};
}

std::vector<double> flat_params(nn::Module& m) {
  std::vector<double> out;
  for (auto& p : m.parameters())
    for (double v : p.to_vector()) out.push_back(v);
  return out;
}

// 50 steps of SGD with momentum: DDP on k ranks with per-rank batch 12/k against one process
// with batch 12 (computed identically on every rank). Each rank's model starts from a different
// seed; DDP's construction copies rank 0's weights (model(1)).
void expect_matches_single_process(const std::function<nn::ModulePtr(uint64_t)>& model,
                                   const Shape& example_shape) {
  const int r = world().rank, n = world().size;
  auto ref = model(1);
  optim::SGD ref_opt(ref->parameters(), optim::SgdOptions{.lr = 0.1, .momentum = 0.9});
  auto local = model(uint64_t(1 + r * 17));
  auto ddp = std::make_shared<DistributedDataParallel>(local, world().process_group);
  optim::SGD opt(local->parameters(), optim::SgdOptions{.lr = 0.1, .momentum = 0.9});
  const int64_t per = 12 / n;
  Shape batch_shape{12};
  batch_shape.insert(batch_shape.end(), example_shape.begin(), example_shape.end());
  for (int s = 0; s < 50; ++s) {
    auto [flat, y] = batch(s, shape_numel(example_shape));
    Tensor x = flat.view(batch_shape);
    ref_opt.zero_grad();
    cross_entropy(ref->forward(x), y).backward();
    ref_opt.step();
    opt.zero_grad();
    cross_entropy(ddp->forward(x.narrow(0, r * per, per)), y.narrow(0, r * per, per)).backward();
    opt.step();
  }
  auto a = flat_params(*ref), b = flat_params(*local);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], b[i], 1e-5) << "parameter element " << i;
  // Not vacuous: training moved the weights well beyond the tolerance.
  auto init = flat_params(*model(1));
  double moved = 0;
  for (size_t i = 0; i < a.size(); ++i) moved = std::max(moved, std::abs(a[i] - init[i]));
  EXPECT_GT(moved, 0.05);
}

}  // namespace

TEST(Ddp, MlpMatchesSingleProcessLargeBatch) { expect_matches_single_process(mlp, {6}); }

TEST(Ddp, CnnMatchesSingleProcessLargeBatch) { expect_matches_single_process(cnn, {1, 8, 8}); }

namespace {

// The reference for the no_sync tests: one backward of the mean loss over 4 micro-batches of all
// ranks' data (3 examples each; the data of rank r's micro-batch m is batch 20 + 4r + m).
void backward_over_all_micro_batches(nn::Module& ref, int n) {
  Tensor ref_loss;
  for (int rank = 0; rank < n; ++rank)
    for (int m = 0; m < 4; ++m) {
      auto [xm, ym] = batch(20 + 4 * rank + m);
      Tensor l =
          cross_entropy(ref.forward(xm.narrow(0, 0, 3)), ym.narrow(0, 0, 3)) * (1.0 / (4.0 * n));
      ref_loss = ref_loss.defined() ? ref_loss + l : l;
    }
  ref_loss.backward();
}

}  // namespace

TEST(Ddp, StateDictKeysCarryTheModulePrefix) {
  auto ddp = std::make_shared<DistributedDataParallel>(mlp(1), world().process_group);
  EXPECT_EQ(ddp->state_dict().keys().front(), "module.0.weight");
}

TEST(Ddp, NoSyncAccumulationEqualsLargeBatch) {
  const int r = world().rank, n = world().size;
  auto ref = mlp(2);
  auto local = mlp(2);
  auto ddp = std::make_shared<DistributedDataParallel>(local, world().process_group);
  backward_over_all_micro_batches(*ref, n);
  for (int m = 0; m < 4; ++m) {
    auto [xm, ym] = batch(20 + 4 * r + m);
    auto run = [&] {
      (cross_entropy(ddp->forward(xm.narrow(0, 0, 3)), ym.narrow(0, 0, 3)) * 0.25).backward();
    };
    if (m < 3) {
      auto guard = ddp->no_sync();
      run();
    } else {
      run();  // the synchronising backward reduces the accumulated gradients
    }
  }
  auto rp = ref->parameters(), lp = local->parameters();
  for (size_t i = 0; i < rp.size(); ++i)
    EXPECT_TRUE(allclose(lp[i].grad(), rp[i].grad(), 1e-5, 1e-6)) << i;
}

TEST(Ddp, BucketsFollowTheCapAndOverlapBackward) {
  // 5 layers of 64x64 floats (16 KiB weights, 256 B biases), 20 KiB cap, parameters in reverse:
  // [b5 w5 b4 w4] closes at 32.5 KiB, [b3 w3 b2 w2] likewise, [b1 w1] is the rest: 3 buckets.
  Generator gen(3);
  auto seq = std::make_shared<nn::Sequential>();
  for (int i = 0; i < 5; ++i) seq->push_back(std::make_shared<nn::Linear>(64, 64, true, gen));
  DdpOptions o;
  o.bucket_cap_mb = 20.0 / 1024;
  auto pg = std::dynamic_pointer_cast<ProcessGroupMPI>(world().process_group);
  auto ddp = std::make_shared<DistributedDataParallel>(seq, pg, o);
  ASSERT_EQ(ddp->reducer().num_buckets(), 3u);
  EXPECT_EQ(ddp->reducer().bucket_parameter_names()[0],
            (std::vector<std::string>{"4.bias", "4.weight", "3.bias", "3.weight"}));
  // The first layer's weight gets its gradient last; record how many collectives had started then.
  int64_t started_when_first_layer_ready = -1;
  auto first_weight = seq->parameters().front();
  const int64_t before = pg->started_collectives();
  first_weight.register_post_accumulate_grad_hook([&](const Tensor&) {
    // Let the communication thread pick up what is queued (it is a separate thread).
    for (int i = 0; i < 200 && pg->started_collectives() == before; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    started_when_first_layer_ready = pg->started_collectives() - before;
  });
  Tensor x = randn({8, 64}, gen);
  ddp->forward(x).sum().backward();
  EXPECT_GE(started_when_first_layer_ready, 1)
      << "no bucket all-reduce had started before backward finished";
  EXPECT_EQ(ddp->reducer().buckets_launched_before_backward_end(), 3);
}

TEST(Ddp, EachDtypeHasItsOwnSmallFirstBucket) {
  // As PyTorch's compute_bucket_assignment_by_size: the 1 MB first-bucket limit applies to the
  // first bucket of each dtype and device, not only to the first bucket overall. In reverse
  // order the float64 layer comes first; the float32 parameters then close a bucket at 1 MB.
  Generator gen(5);
  auto seq = std::make_shared<nn::Sequential>();
  seq->push_back(std::make_shared<nn::Linear>(512, 512, true, gen));  // 1 MB + 2 KiB
  seq->push_back(std::make_shared<nn::Linear>(512, 512, true, gen));
  auto f64 = std::make_shared<nn::Linear>(8, 8, true, gen);
  f64->to(DType::Float64);
  seq->push_back(f64);
  DistributedDataParallel ddp(seq, world().process_group);
  using Names = std::vector<std::vector<std::string>>;
  EXPECT_EQ(ddp.reducer().bucket_parameter_names(),
            (Names{{"2.bias", "2.weight"}, {"1.bias", "1.weight"}, {"0.bias", "0.weight"}}));
}

TEST(Ddp, BatchNormBuffersFollowRankZero) {
  const int r = world().rank;
  Generator gen(4);
  auto seq = std::make_shared<nn::Sequential>();
  seq->push_back(std::make_shared<nn::Linear>(4, 4, true, gen));
  seq->push_back(std::make_shared<nn::BatchNorm1d>(4));
  auto ddp = std::make_shared<DistributedDataParallel>(seq, world().process_group);
  Generator data(50 + uint64_t(r));
  ddp->forward(randn({6, 4}, data)).sum().backward();  // running stats now differ per rank
  ddp->forward(randn({6, 4}, data)).sum().backward();  // broadcast first: rank 0's stats win
  // After the broadcast each rank updated from rank 0's stats with its own batch; broadcast again
  // (eval forward with grad off still syncs since the previous forward synced).
  {
    NoGradGuard g;
    ddp->eval();
    ddp->forward(randn({2, 4}, data));
  }
  Tensor rm = seq->named_buffers().at(0).second.clone();
  auto& pg = *world().process_group;
  Tensor from0 = rm.clone();
  pg.broadcast(from0, 0)->wait();
  EXPECT_TRUE(equal(rm, from0));
}

TEST(Ddp, GradientAsBucketViewTrainsTheSameWithGradsInTheBucket) {
  const int r = world().rank, n = world().size;
  std::vector<std::vector<double>> trained;
  for (bool as_view : {false, true}) {
    auto local = mlp(3);
    DdpOptions o;
    o.gradient_as_bucket_view = as_view;
    auto ddp = std::make_shared<DistributedDataParallel>(local, world().process_group, o);
    optim::SGD opt(local->parameters(), optim::SgdOptions{.lr = 0.1, .momentum = 0.9});
    const int64_t per = 12 / n;
    for (int s = 0; s < 5; ++s) {
      auto [x, y] = batch(s);
      opt.zero_grad(/*set_to_none=*/false);
      cross_entropy(ddp->forward(x.narrow(0, r * per, per)), y.narrow(0, r * per, per)).backward();
      opt.step();
    }
    if (as_view) {  // one bucket at the default cap: every .grad lives in its flat buffer
      ASSERT_EQ(ddp->reducer().num_buckets(), 1u);
      auto params = local->parameters();
      for (auto& p : params) EXPECT_EQ(p.grad().storage(), params[0].grad().storage());
    }
    trained.push_back(flat_params(*local));
  }
  EXPECT_EQ(trained[0], trained[1]);
}

TEST(Ddp, SyncBuffersGivesEveryRankRankZerosStatistics) {
  const int r = world().rank;
  Generator gen(6);
  auto seq = std::make_shared<nn::Sequential>();
  seq->push_back(std::make_shared<nn::Linear>(4, 4, true, gen));
  seq->push_back(std::make_shared<nn::BatchNorm1d>(4));
  auto ddp = std::make_shared<DistributedDataParallel>(seq, world().process_group);
  Generator data(70 + uint64_t(r));
  ddp->forward(randn({6, 4}, data)).sum().backward();  // each rank's stats now include its batch
  Tensor mine = seq->named_buffers().at(0).second.clone();
  Tensor from0 = mine.clone();
  world().process_group->broadcast(from0, 0)->wait();
  if (r != 0) {
    EXPECT_FALSE(equal(mine, from0));
  }
  ddp->sync_buffers();  // what the trainer does before evaluating
  EXPECT_TRUE(equal(seq->named_buffers().at(0).second, from0));
}

namespace {

// A trunk and three heads, the same weights on every rank: rank 0's forward uses head a, the
// others' head b; head `never` takes part on no rank.
struct Heads : nn::Module {
  bool on_a;
  explicit Heads(bool use_a) : Module("Heads"), on_a(use_a) {
    Generator gen(7);
    for (const char* name : {"trunk", "a", "b", "never"})
      register_module(
          name, std::make_shared<nn::Linear>(4, std::string(name) == "trunk" ? 4 : 2, true, gen));
  }
  Tensor forward(const Tensor& x) override {
    return (*child(on_a ? "a" : "b"))((*child("trunk"))(x));
  }
};

std::map<std::string, Tensor> grads_of(nn::Module& m) {
  std::map<std::string, Tensor> out;
  for (const auto& [name, p] : m.named_parameters()) out[name] = p.grad();
  return out;
}

}  // namespace

// find_unused_parameters as PyTorch's reducer: which parameters took part is all-reduced, so a
// head used on rank 0 only gets the average (its gradient / world) on every rank, and one used
// on no rank keeps its .grad as it was (None, or a gradient set before), bucket view or not.
TEST(Ddp, FindUnusedParametersAveragesWhatAnyRankUsedAndLeavesTheRest) {
  const int r = world().rank, n = world().size;
  const Tensor x = full({3, 4}, 0.5);
  auto grads_when = [&](bool use_a) {
    Heads ref(use_a);
    ref(x).sum().backward();
    return grads_of(ref);
  };
  const auto on_a = grads_when(true), on_b = grads_when(false);
  // One bucket, and a bucket per parameter: then rank 0 fills head a's buckets during backward
  // and the others only at its end, and every collective must still pair up across ranks.
  for (auto [as_view, cap_mb] :
       std::vector<std::pair<bool, double>>{{false, 25.0}, {true, 25.0}, {false, 1e-6}}) {
    auto local = std::make_shared<Heads>(r == 0);
    DistributedDataParallel ddp(local, world().process_group,
                                DdpOptions{.bucket_cap_mb = cap_mb,
                                           .find_unused_parameters = true,
                                           .gradient_as_bucket_view = as_view});
    if (cap_mb < 1) {
      ASSERT_EQ(ddp.reducer().num_buckets(), 8u);
    }
    for (int step = 0; step < 2; ++step) {  // a second step: no "unfinished reduction" error
      Tensor kept = full({2, 4}, 5.0);
      local->child_as<nn::Linear>("never")->weight.set_grad(kept);
      ddp.forward(x).sum().backward();
      const auto got = grads_of(*local);
      for (const auto& [name, g] : got) {
        const std::string what =
            name + (as_view ? " (bucket view)" : "") + " step " + std::to_string(step);
        if (name == "never.weight") {
          EXPECT_TRUE(g.is_same(kept)) << what;
          EXPECT_EQ(g.to_vector(), std::vector<double>(8, 5.0)) << what;
          continue;
        }
        if (name == "never.bias") {
          EXPECT_FALSE(g.defined()) << what;
          continue;
        }
        ASSERT_TRUE(g.defined()) << what;
        const Tensor& ga = on_a.at(name);
        const Tensor& gb = on_b.at(name);
        const Tensor want = ((ga.defined() ? ga : zeros_like(gb)) +
                             (gb.defined() ? gb : zeros_like(ga)) * double(n - 1)) /
                            double(n);
        EXPECT_TRUE(allclose(g, want, 1e-5, 1e-6)) << what;
      }
      for (auto& p : local->parameters()) p.set_grad(Tensor());
    }
  }
}

// Without find_unused_parameters, parameters left out of the loss (the same on every rank here)
// leave their bucket unreduced: the next forward says so and names them, as PyTorch's indices.
TEST(Ddp, UnusedParametersWithoutFindUnusedAreNamedAtTheNextForward) {
  auto local = std::make_shared<Heads>(true);  // b and never take no part
  DistributedDataParallel ddp(local, world().process_group);
  const Tensor x = full({3, 4}, 0.5);
  ddp.forward(x).sum().backward();
  const std::string e = tandem::testing::error_text([&] { ddp.forward(x); });
  EXPECT_NE(e.find("Expected to have finished reduction in the prior iteration"), std::string::npos)
      << e;
  EXPECT_NE(e.find("did not receive grad for rank " + std::to_string(world().rank) +
                   ": 4 5 6 7 (b.weight, b.bias, never.weight, never.bias)"),
            std::string::npos)
      << e;
}

// A forward without a backward (a loss computed with grad mode on, never differentiated) leaves
// no reduction unfinished: the next forward and backward run, as in PyTorch.
TEST(Ddp, AForwardWithoutABackwardIsNotAnUnfinishedReduction) {
  auto local = mlp(3);
  DistributedDataParallel ddp(local, world().process_group);
  auto [x, y] = batch(40);
  (void)cross_entropy(ddp.forward(x), y);  // no backward
  EXPECT_NO_THROW(cross_entropy(ddp.forward(x), y).backward());
  EXPECT_NO_THROW(cross_entropy(ddp.forward(x), y).backward());
}

TEST(Ddp, DifferentModelsAreRefusedNamingTheRank) {
  const int r = world().rank;
  Generator gen(5);
  auto seq = std::make_shared<nn::Sequential>();
  seq->push_back(std::make_shared<nn::Linear>(4, r == 1 ? 5 : 4, true, gen));
  try {
    DistributedDataParallel ddp(seq, world().process_group);
    FAIL() << "expected a mismatch error";
  } catch (const Error& e) {
    if (r == 1) {
      EXPECT_NE(std::string(e.what()).find("rank 1"), std::string::npos) << e.what();
    }
  }
}

TEST(Ddp, DifferentBucketLayoutsAreRefusedNamingTheRanks) {
  // The same model, but the last rank closes its buckets at every parameter: an all-reduce of
  // buffers of different sizes would corrupt memory, so every rank refuses with one message.
  const int r = world().rank, last = world().size - 1;
  DdpOptions o;
  o.bucket_cap_mb = r == last ? 1e-6 : 25;
  const std::string err = tandem::testing::error_text(
      [&] { DistributedDataParallel ddp(mlp(1), world().process_group, o); });
  EXPECT_NE(err.find("different gradient buckets"), std::string::npos) << err;
  EXPECT_NE(err.find("rank " + std::to_string(last) + ": 4 bucket(s)"), std::string::npos) << err;
  EXPECT_NE(err.find(last == 1 ? "rank 0: 1 bucket(s)" : "ranks 0, "), std::string::npos) << err;
}

// ---- on a device ------------------------------------------------------------------------------

namespace {

using tandem::testing::matches_cpu;

// The `cuda` instance puts each rank on cuda:local_rank, as the trainer does.
class DdpOnDevice : public ::testing::TestWithParam<Device> {
 protected:
  void SetUp() override {
    device_ = GetParam().is_cpu() ? kCPU : Device(DeviceType::CUDA, world().local_rank);
    const std::string why = tandem::testing::stack_unavailable(device_);
    if (!why.empty()) GTEST_SKIP() << why;
    if (device_.is_cuda()) kernels::device::set_current_device(device_.index);
  }
  Device device() const { return device_; }
  std::shared_ptr<ProcessGroup> group() const {
    return make_process_group("auto", world(), device_);
  }

 private:
  Device device_;
};

// `model(seed)` moved to `device`.
nn::ModulePtr on(Device device, nn::ModulePtr m) {
  m->to(device);
  return m;
}

// 20 steps of SGD with momentum of DDP on `device` (per-rank batch 12/k of step s's batch), each
// rank's model from another seed until DDP broadcasts rank 0's. Returns the rank's parameters.
std::vector<Tensor> ddp_trained(const std::function<nn::ModulePtr(uint64_t)>& model,
                                const Shape& example_shape, Device device,
                                std::shared_ptr<ProcessGroup> pg, DdpOptions o = {}) {
  const int r = world().rank, n = world().size;
  auto local = on(device, model(uint64_t(1 + r * 17)));
  auto ddp = std::make_shared<DistributedDataParallel>(local, std::move(pg), o);
  optim::SGD opt(local->parameters(), optim::SgdOptions{.lr = 0.1, .momentum = 0.9});
  const int64_t per = 12 / n;
  Shape batch_shape{12};
  batch_shape.insert(batch_shape.end(), example_shape.begin(), example_shape.end());
  for (int s = 0; s < 20; ++s) {
    auto [flat, y] = batch(s, shape_numel(example_shape));
    const Tensor x = flat.view(batch_shape).narrow(0, r * per, per).to(device);
    opt.zero_grad(/*set_to_none=*/!o.gradient_as_bucket_view);
    cross_entropy(ddp->forward(x), y.narrow(0, r * per, per).to(device)).backward();
    opt.step();
  }
  for (const auto& p : local->parameters()) {
    EXPECT_EQ(p.device(), device);
    EXPECT_EQ(p.grad().device(), device);
  }
  return local->parameters();
}

// The same 20 steps in one process with the whole batch, on the CPU.
std::vector<Tensor> single_process_trained(const std::function<nn::ModulePtr(uint64_t)>& model,
                                           const Shape& example_shape) {
  auto ref = model(1);
  optim::SGD opt(ref->parameters(), optim::SgdOptions{.lr = 0.1, .momentum = 0.9});
  Shape batch_shape{12};
  batch_shape.insert(batch_shape.end(), example_shape.begin(), example_shape.end());
  for (int s = 0; s < 20; ++s) {
    auto [flat, y] = batch(s, shape_numel(example_shape));
    opt.zero_grad();
    cross_entropy(ref->forward(flat.view(batch_shape)), y).backward();
    opt.step();
  }
  return ref->parameters();
}

void expect_close(const std::vector<Tensor>& got, const std::vector<Tensor>& ref, double tol) {
  ASSERT_EQ(got.size(), ref.size());
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_TRUE(allclose(got[i].cpu(), ref[i], 0, tol)) << "parameter " << i;
}

void expect_same_as_cpu_ddp_and_one_process(const std::function<nn::ModulePtr(uint64_t)>& model,
                                            const Shape& example_shape, Device device,
                                            std::shared_ptr<ProcessGroup> pg) {
  const auto on_device = ddp_trained(model, example_shape, device, pg);
  const auto on_cpu = ddp_trained(model, example_shape, kCPU, world().process_group);
  for (size_t i = 0; i < on_device.size(); ++i)
    EXPECT_TRUE(matches_cpu(on_device[i], on_cpu[i], device, "parameter " + std::to_string(i)));
  expect_close(on_device, single_process_trained(model, example_shape), 1e-5);
  // Every rank holds the same parameters (rank 0's, broadcast).
  for (size_t i = 0; i < on_device.size(); ++i) {
    Tensor mine = on_device[i].clone(), from0 = on_device[i].clone();
    pg->broadcast(from0, 0)->wait();
    EXPECT_TRUE(equal(mine.cpu(), from0.cpu())) << "parameter " << i << " differs from rank 0's";
  }
}

}  // namespace

TEST_P(DdpOnDevice, MlpMatchesCpuDdpAndOneProcess) {
  expect_same_as_cpu_ddp_and_one_process(mlp, {6}, device(), group());
}

TEST_P(DdpOnDevice, CnnMatchesCpuDdpAndOneProcess) {
  expect_same_as_cpu_ddp_and_one_process(cnn, {1, 8, 8}, device(), group());
}

// gradient_as_bucket_view: every .grad is a view of its bucket, a flat tensor on the device that
// the backend all-reduces; training is the same as with separate gradients.
TEST_P(DdpOnDevice, GradientAsBucketViewKeepsGradientsInDeviceBuckets) {
  DdpOptions o;
  o.gradient_as_bucket_view = true;
  const auto as_view = ddp_trained(mlp, {6}, device(), group(), o);
  for (const auto& p : as_view) {
    EXPECT_EQ(p.grad().device(), device());
    EXPECT_EQ(p.grad().storage(), as_view[0].grad().storage());  // one bucket at the default cap
  }
  const auto separate = ddp_trained(mlp, {6}, device(), group());
  for (size_t i = 0; i < as_view.size(); ++i)
    EXPECT_TRUE(equal(as_view[i].cpu(), separate[i].cpu())) << i;
}

// no_sync: three micro-batches accumulate locally, the fourth backward reduces the sum; the
// gradients equal one backward over all ranks' micro-batches.
TEST_P(DdpOnDevice, NoSyncAccumulationEqualsLargeBatch) {
  const int r = world().rank, n = world().size;
  auto ref = mlp(2);
  auto local = on(device(), mlp(2));
  auto ddp = std::make_shared<DistributedDataParallel>(local, group());
  backward_over_all_micro_batches(*ref, n);
  for (int m = 0; m < 4; ++m) {
    auto [xm, ym] = batch(20 + 4 * r + m);
    auto run = [&] {
      (cross_entropy(ddp->forward(xm.narrow(0, 0, 3).to(device())),
                     ym.narrow(0, 0, 3).to(device())) *
       0.25)
          .backward();
    };
    if (m < 3) {
      auto guard = ddp->no_sync();
      run();
    } else {
      run();
    }
  }
  auto rp = ref->parameters(), lp = local->parameters();
  for (size_t i = 0; i < rp.size(); ++i) {
    EXPECT_EQ(lp[i].grad().device(), device());
    EXPECT_TRUE(allclose(lp[i].grad().cpu(), rp[i].grad(), 1e-5, 1e-6)) << i;
  }
}

// Construction broadcasts rank 0's parameters and buffers to every rank's device model; the
// BatchNorm statistics each rank then gathers differ until sync_buffers hands out rank 0's.
TEST_P(DdpOnDevice, ParametersAndBuffersFollowRankZero) {
  const int r = world().rank;
  auto make = [](uint64_t seed) {
    Generator gen(seed);
    auto seq = std::make_shared<nn::Sequential>();
    seq->push_back(std::make_shared<nn::Linear>(4, 4, true, gen));
    seq->push_back(std::make_shared<nn::BatchNorm1d>(4));
    return seq;
  };
  auto local = make(40 + uint64_t(r));
  {
    NoGradGuard g;
    Generator data(60 + uint64_t(r));
    local->forward(randn({6, 4}, data));  // running statistics differ per rank
  }
  local->to(device());
  auto pg = group();
  auto ddp = std::make_shared<DistributedDataParallel>(local, pg);
  auto rank0 = make(40);
  {
    NoGradGuard g;
    Generator data(60);
    rank0->forward(randn({6, 4}, data));
  }
  const auto mine = local->state_dict(), want = rank0->state_dict();
  for (const auto& [k, v] : mine) {
    EXPECT_EQ(v.device(), device()) << k;
    EXPECT_TRUE(equal(v.cpu(), want.at(k))) << k << " is not rank 0's after construction";
  }
  Generator data(70 + uint64_t(r));
  ddp->forward(randn({6, 4}, data).to(device())).sum().backward();
  Tensor rm = local->named_buffers().at(0).second.clone(), from0 = rm.clone();
  pg->broadcast(from0, 0)->wait();
  if (r != 0) {
    EXPECT_FALSE(equal(rm.cpu(), from0.cpu()));
  }
  ddp->sync_buffers();
  EXPECT_TRUE(equal(local->named_buffers().at(0).second.cpu(), from0.cpu()));
  EXPECT_EQ(local->named_buffers().at(0).second.device(), device());
}

TANDEM_INSTANTIATE_DEVICE_TEST(DdpOnDevice);

TANDEM_MPI_TEST_MAIN()
