// DataParallel: "module." state_dict keys that load into a plain model; 3 replicas with uneven
// chunks (4, 4, 2) train an MLP and a small CNN like one model on the full batch; gradients land
// in replica 0 only; small batches, eval/no-grad forwards, two forwards before one backward;
// errors in a replica name it; BatchNorm keeps replica 0's statistics; Dropout is reproducible.
// With device_ids (one replica per GPU; the emulated device in CI): the same training on 3
// GPUs, where replicas, outputs and gradients live, output_device, and the device errors.
#include <gtest/gtest.h>

#include "framework/autograd/grad_mode.h"
#include "framework/nn/nn.h"
#include "framework/ops/ops.h"
#include "framework/optim/sgd.h"
#include "parallel/data_parallel.h"
#include "tests/device_test.h"
#include "tests/small_models.h"

using namespace tandem;
using parallel::DataParallel;
using parallel::DataParallelOptions;

namespace {

using tandem::testing::random_targets;
nn::ModulePtr mlp(uint64_t seed) { return tandem::testing::small_mlp(seed); }
nn::ModulePtr cnn(uint64_t seed) { return tandem::testing::small_cnn(seed); }

// Factory for DataParallel: replicas are built from other seeds, so any replica that did not
// receive replica 0's weights would show in the results.
DataParallel::ReplicaFactory factory(nn::ModulePtr (*build)(uint64_t)) {
  auto seed = std::make_shared<uint64_t>(1000);
  return [build, seed] { return build((*seed)++); };
}

void expect_close(const Tensor& a, const Tensor& b, double tol, const std::string& what) {
  ASSERT_TRUE(a.defined() && b.defined()) << what;
  ASSERT_EQ(a.sizes(), b.sizes()) << what;
  const auto va = a.to_vector(), vb = b.to_vector();
  for (size_t i = 0; i < va.size(); ++i) ASSERT_NEAR(va[i], vb[i], tol) << what << " element " << i;
}

// 20 SGD steps (momentum 0.9), batch 10 over 3 replicas (chunks 4, 4, 2), against one model on
// the full batch; float64 so the only difference is summation order. With device_ids, the
// reference model and the batches live on device_ids[0], and replica i on device_ids[i].
void train_matches_single_model(nn::ModulePtr (*build)(uint64_t), const Shape& input_shape,
                                DataParallelOptions options = {}) {
  const Device home = options.device_ids.empty() ? kCPU : options.device_ids[0];
  auto ref = build(7);
  auto dp = std::make_shared<DataParallel>(build(7), factory(build), 3, options);
  ref->to(home, DType::Float64);
  dp->to(home, DType::Float64);  // converts replica 0; the others follow at the next forward
  optim::SGD ref_opt(ref->parameters(), optim::SgdOptions{.lr = 0.1, .momentum = 0.9});
  optim::SGD opt(dp->parameters(), optim::SgdOptions{.lr = 0.1, .momentum = 0.9});
  Generator data(3);
  for (int step = 0; step < 20; ++step) {
    Tensor x = randn(input_shape, data, TensorOptions(DType::Float64)).to(home);
    Tensor y = random_targets(input_shape[0], data).to(home);
    ref_opt.zero_grad();
    cross_entropy(ref->forward(x), y).backward();
    ref_opt.step();
    opt.zero_grad();
    cross_entropy(dp->forward(x), y).backward();
    opt.step();
  }
  auto a = ref->named_parameters(), b = dp->module()->named_parameters();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(b[i].second.device(), home) << a[i].first;
    expect_close(a[i].second, b[i].second, 1e-5, a[i].first);
  }
}

// cuda:0 .. cuda:n-1, or why this machine cannot run n of them (the emulated device in CI has 4).
std::vector<Device> gpus(int n) {
  std::vector<Device> ids;
  for (int i = 0; i < n; ++i) ids.push_back(Device(DeviceType::CUDA, i));
  return ids;
}
#define SKIP_WITHOUT_GPUS(n)                                                                 \
  if (const std::string why = tandem::testing::unavailable(Device(DeviceType::CUDA, (n)-1)); \
      !why.empty())                                                                          \
  GTEST_SKIP() << "needs " << (n) << " CUDA devices: " << why
}  // namespace

TEST(DataParallel, StateDictHasModulePrefixAndLoadsIntoPlainModel) {
  auto dp = std::make_shared<DataParallel>(factory(mlp), 3);
  const auto sd = dp->state_dict();
  EXPECT_EQ(sd.keys(), (std::vector<std::string>{"module.0.weight", "module.0.bias",
                                                 "module.2.weight", "module.2.bias"}));
  // Only replica 0 is visible: parameters, repr.
  EXPECT_EQ(dp->parameters().size(), 4u);
  EXPECT_TRUE(dp->parameters()[0].is_same(dp->module()->parameters()[0]));
  EXPECT_EQ(dp->repr().find("DataParallel(\n  (module): Sequential("), 0u) << dp->repr();
  EXPECT_EQ(dp->children().size(), 1u);

  auto plain = mlp(99);
  EXPECT_TRUE(plain->load_state_dict(sd).empty());
  for (const auto& [key, value] : plain->state_dict())
    EXPECT_TRUE(equal(value, sd.at("module." + key))) << key;
  // And the reverse: a plain model's weights load into the wrapper.
  auto other = mlp(5);
  EXPECT_TRUE(dp->load_state_dict(other->state_dict()).empty());
  EXPECT_TRUE(equal(dp->module()->parameters()[0], other->parameters()[0]));
}

TEST(DataParallel, MlpTrainsLikeOneModelOnTheFullBatch) {
  train_matches_single_model(mlp, {10, 6});
}

TEST(DataParallel, CnnTrainsLikeOneModelOnTheFullBatch) {
  train_matches_single_model(cnn, {10, 1, 8, 8});
}

TEST(DataParallel, GradientsAreReducedIntoReplicaZero) {
  auto ref = mlp(7);
  auto dp = std::make_shared<DataParallel>(mlp(7), factory(mlp), 3);
  Generator data(4);
  Tensor x = randn({10, 6}, data);
  Tensor y = random_targets(10, data);
  cross_entropy(ref->forward(x), y).backward();
  Tensor out = dp->forward(x);
  EXPECT_EQ(out.sizes(), (Shape{10, 3}));
  expect_close(out, ref->forward(x), 1e-6, "output");
  cross_entropy(out, y).backward();
  auto a = ref->named_parameters(), b = dp->module()->named_parameters();
  for (size_t i = 0; i < a.size(); ++i)
    expect_close(a[i].second.grad(), b[i].second.grad(), 1e-6, a[i].first);
  for (int r = 1; r < dp->num_replicas(); ++r)
    for (const auto& p : dp->replica(r)->parameters())
      EXPECT_FALSE(p.grad().defined()) << "replica " << r;

  // A second backward accumulates into replica 0's .grad, as on a single model.
  cross_entropy(dp->forward(x), y).backward();
  cross_entropy(ref->forward(x), y).backward();
  for (size_t i = 0; i < a.size(); ++i)
    expect_close(a[i].second.grad(), b[i].second.grad(), 1e-6, a[i].first);
}

TEST(DataParallel, InputGradientFlowsBackThroughTheSplit) {
  auto ref = mlp(7);
  auto dp = std::make_shared<DataParallel>(mlp(7), factory(mlp), 3);
  Generator data(10);
  Tensor x = randn({10, 6}, data).set_requires_grad(true);
  Tensor x_ref = x.detach().clone().set_requires_grad(true);
  Tensor y = random_targets(10, data);
  cross_entropy(dp->forward(x), y).backward();
  cross_entropy(ref->forward(x_ref), y).backward();
  expect_close(x.grad(), x_ref.grad(), 1e-6, "input grad");
}

TEST(DataParallel, BatchSmallerThanReplicaCount) {
  auto ref = mlp(7);
  auto dp = std::make_shared<DataParallel>(mlp(7), factory(mlp), 3);
  Generator data(5);
  for (int64_t n : {2, 1}) {
    ref->zero_grad();
    dp->zero_grad();
    Tensor x = randn({n, 6}, data);
    Tensor y = random_targets(n, data);
    Tensor out = dp->forward(x);
    EXPECT_EQ(out.sizes(), (Shape{n, 3}));
    cross_entropy(out, y).backward();
    cross_entropy(ref->forward(x), y).backward();
    auto a = ref->parameters(), b = dp->module()->parameters();
    for (size_t i = 0; i < a.size(); ++i) expect_close(a[i].grad(), b[i].grad(), 1e-6, "grad");
  }
}

TEST(DataParallel, ChunksFollowTorchChunk) {
  // torch.chunk(9 rows, 4) gives 3 chunks of 3: the fourth replica is unused. A forward_many
  // that returns each replica's input shows the split.
  struct Echo : nn::Module {
    Echo() : Module("Echo") {}
    std::vector<Tensor> forward_many(const std::vector<Tensor>& xs) override {
      return {xs[0], full({1}, double(xs[0].size(0))), xs[0].sum()};
    }
  };
  auto dp = std::make_shared<DataParallel>([] { return std::make_shared<Echo>(); }, 4);
  Tensor x = arange(9, TensorOptions(DType::Float32)).view({9, 1});
  auto out = dp->forward_many({x});
  ASSERT_EQ(out.size(), 3u);
  EXPECT_TRUE(equal(out[0], x));
  EXPECT_EQ(out[1].to_vector(), (std::vector<double>{3, 3, 3}));
  EXPECT_EQ(out[2].to_vector(), (std::vector<double>{3, 12, 21}));  // scalars: one per chunk
}

TEST(DataParallel, EvalAndNoGradForward) {
  auto ref = mlp(7);
  auto dp = std::make_shared<DataParallel>(mlp(7), factory(mlp), 3);
  Generator data(6);
  Tensor x = randn({10, 6}, data);
  Tensor y = random_targets(10, data);
  dp->eval();
  EXPECT_FALSE(dp->module()->is_training());
  for (int r = 1; r < 3; ++r) EXPECT_TRUE(dp->replica(r)->is_training()) << "not synced yet";
  {
    NoGradGuard no_grad;
    Tensor out = dp->forward(x);
    EXPECT_FALSE(out.requires_grad());
    expect_close(out, ref->forward(x), 1e-6, "no-grad output");
  }
  for (int r = 0; r < 3; ++r) EXPECT_FALSE(dp->replica(r)->is_training()) << "replica " << r;
  // Eval with grad mode on still differentiates; then training resumes normally.
  cross_entropy(dp->forward(x), y).backward();
  dp->train();
  dp->zero_grad();
  cross_entropy(dp->forward(x), y).backward();
  cross_entropy(ref->forward(x), y).backward();
  auto a = ref->parameters(), b = dp->module()->parameters();
  for (size_t i = 0; i < a.size(); ++i) expect_close(a[i].grad(), b[i].grad(), 1e-6, "grad");
  for (int r = 1; r < 3; ++r) {
    EXPECT_TRUE(dp->replica(r)->is_training());
    for (const auto& p : dp->replica(r)->parameters()) EXPECT_FALSE(p.grad().defined());
  }
}

TEST(DataParallel, TwoForwardsThenOneBackward) {
  // The second forward must not rewrite replica weights saved by the first graph.
  auto ref = mlp(7);
  auto dp = std::make_shared<DataParallel>(mlp(7), factory(mlp), 3);
  Generator data(8);
  Tensor x1 = randn({10, 6}, data), x2 = randn({7, 6}, data);
  Tensor y1 = random_targets(10, data), y2 = random_targets(7, data);
  (cross_entropy(dp->forward(x1), y1) + cross_entropy(dp->forward(x2), y2)).backward();
  (cross_entropy(ref->forward(x1), y1) + cross_entropy(ref->forward(x2), y2)).backward();
  auto a = ref->parameters(), b = dp->module()->parameters();
  for (size_t i = 0; i < a.size(); ++i) expect_close(a[i].grad(), b[i].grad(), 1e-6, "grad");
}

TEST(DataParallel, ErrorInReplicaNamesIt) {
  auto dp = std::make_shared<DataParallel>(factory(mlp), 3);
  try {
    dp->forward(zeros({10, 5}));  // the MLP expects 6 features
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("DataParallel: replica 0 failed in forward on its chunk of shape [4, 5]: "),
              std::string::npos)
        << msg;
    EXPECT_NE(msg.find("mat1 and mat2 shapes cannot be multiplied"), std::string::npos) << msg;
  }
  // Only replica 2 fails: a module that rejects chunks of 2 rows.
  struct PickyAboutTwo : nn::Module {
    PickyAboutTwo() : Module("PickyAboutTwo") {}
    Tensor forward(const Tensor& x) override {
      TANDEM_CHECK(x.size(0) != 2, "two rows are not welcome");
      return x;
    }
  };
  auto picky = std::make_shared<DataParallel>([] { return std::make_shared<PickyAboutTwo>(); }, 3);
  EXPECT_THROW(
      {
        try {
          picky->forward(zeros({10, 1}));
        } catch (const Error& e) {
          EXPECT_STREQ(e.what(),
                       "DataParallel: replica 2 failed in forward on its chunk of shape [2, 1]: "
                       "two rows are not welcome");
          throw;
        }
      },
      Error);
  // And the factory must build the same architecture every time.
  int calls = 0;
  auto uneven = [&calls] { return calls++ == 0 ? mlp(1) : cnn(1); };
  EXPECT_THROW(DataParallel(uneven, 2), Error);
  // ... and a new one: a module shared by two replicas would run on two threads at once.
  auto shared = mlp(1);
  EXPECT_THROW(DataParallel(
                   shared, [shared] { return shared; }, 2),
               Error);
  auto head = std::make_shared<nn::Linear>(3, 2);
  auto with_shared_head = [head] {
    auto seq = std::dynamic_pointer_cast<nn::Sequential>(mlp(1));
    seq->push_back(head);
    return nn::ModulePtr(seq);
  };
  try {
    DataParallel(with_shared_head, 3);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(),
                 "DataParallel: replica 1 shares its submodule '3' with replica 0; replicas run "
                 "concurrently and must share nothing");
  }
}

TEST(DataParallel, BatchNormKeepsReplicaZeroStatistics) {
  auto make = [] {
    Generator gen(11);
    auto seq = std::make_shared<nn::Sequential>();
    seq->push_back(std::make_shared<nn::Linear>(4, 5, true, gen));
    seq->push_back(std::make_shared<nn::BatchNorm1d>(5));
    return nn::ModulePtr(seq);
  };
  auto dp = std::make_shared<DataParallel>(make, 3);
  auto ref = make();
  Generator data(9);
  Tensor x = randn({10, 4}, data);
  Tensor out = dp->forward(x);
  // Each chunk is normalised with its own statistics, as in PyTorch's DataParallel.
  Tensor first_chunk = ref->forward(x.narrow(0, 0, 4));
  expect_close(out.narrow(0, 0, 4), first_chunk, 1e-6, "chunk 0 output");
  auto bn = std::dynamic_pointer_cast<nn::BatchNorm1d>(dp->module()->get_submodule("1"));
  auto ref_bn = std::dynamic_pointer_cast<nn::BatchNorm1d>(ref->get_submodule("1"));
  expect_close(bn->running_mean, ref_bn->running_mean, 1e-7, "running_mean");
  expect_close(bn->running_var, ref_bn->running_var, 1e-7, "running_var");
  EXPECT_EQ(bn->num_batches_tracked.item<int64_t>(), 1);
  // The next forward gives every replica replica 0's statistics again.
  dp->forward(x);
  auto bn2 = std::dynamic_pointer_cast<nn::BatchNorm1d>(dp->replica(2)->get_submodule("1"));
  EXPECT_EQ(bn2->num_batches_tracked.item<int64_t>(), 2);
}

TEST(DataParallel, DropoutIsReproducibleAndPerReplica) {
  auto make = [] {
    auto seq = std::make_shared<nn::Sequential>();
    seq->push_back(std::make_shared<nn::Dropout>(0.5));
    return nn::ModulePtr(seq);
  };
  auto dp = std::make_shared<DataParallel>(make, 3);
  auto dropout = [&](int r) {
    return std::dynamic_pointer_cast<nn::Dropout>(dp->replica(r)->get_submodule("0"));
  };
  EXPECT_EQ(dropout(0)->generator, nullptr);  // replica 0 keeps the default generator
  EXPECT_NE(dropout(1)->generator, nullptr);
  EXPECT_NE(dropout(1)->generator, dropout(2)->generator);
  Tensor x = ones({12, 50});
  manual_seed(3);
  Tensor a = dp->forward(x);
  manual_seed(3);
  Tensor b = dp->forward(x);
  EXPECT_TRUE(equal(a, b));
  // Different masks per chunk (independent streams), and eval is the identity.
  EXPECT_FALSE(equal(a.narrow(0, 4, 4), a.narrow(0, 8, 4)));
  dp->eval();
  EXPECT_TRUE(equal(dp->forward(x), x));
}

// One replica per GPU (torch's device_ids): on the emulated device in CI, on real GPUs when the
// binary runs on a machine with enough of them.

TEST(DataParallelOnGpus, MlpTrainsLikeOneModelOnTheFullBatch) {
  SKIP_WITHOUT_GPUS(3);
  train_matches_single_model(mlp, {10, 6}, {.device_ids = gpus(3)});
}

TEST(DataParallelOnGpus, CnnTrainsLikeOneModelOnTheFullBatch) {
  SKIP_WITHOUT_GPUS(3);
  train_matches_single_model(cnn, {10, 1, 8, 8}, {.device_ids = gpus(3)});
}

TEST(DataParallelOnGpus, ReplicasOutputsAndGradientsLiveWhereTorchPutsThem) {
  SKIP_WITHOUT_GPUS(2);
  const Device cuda0(DeviceType::CUDA, 0), cuda1(DeviceType::CUDA, 1);
  auto ref = mlp(7);
  auto dp = std::make_shared<DataParallel>(mlp(7), factory(mlp), 0,
                                           DataParallelOptions{.device_ids = {cuda0, cuda1}});
  EXPECT_EQ(dp->num_replicas(), 2);
  dp->module()->to(cuda0);
  for (const auto& p : dp->replica(1)->parameters()) EXPECT_EQ(p.device(), cuda1);
  EXPECT_EQ(dp->replica_device(1), cuda1);

  // A CPU batch: scattered to both GPUs, gathered on cuda:0, its gradient back on the CPU.
  Generator data(4);
  Tensor x = randn({10, 6}, data).set_requires_grad(true);
  Tensor x_ref = x.detach().clone().set_requires_grad(true);
  Tensor y = random_targets(10, data);
  Tensor out = dp->forward(x);
  EXPECT_EQ(out.device(), cuda0);
  expect_close(out, ref->forward(x_ref), 1e-6, "output");
  cross_entropy(out, y.to(cuda0)).backward();
  cross_entropy(ref->forward(x_ref), y).backward();
  EXPECT_EQ(x.grad().device(), kCPU);
  expect_close(x.grad(), x_ref.grad(), 1e-6, "input grad");
  auto a = ref->named_parameters(), b = dp->module()->named_parameters();
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(b[i].second.grad().device(), cuda0) << a[i].first;
    expect_close(a[i].second.grad(), b[i].second.grad(), 1e-6, a[i].first);
  }
  for (const auto& p : dp->replica(1)->parameters()) EXPECT_FALSE(p.grad().defined());

  // state_dict: replica 0's tensors on cuda:0, keys with module., as torch's DataParallel.
  EXPECT_EQ(dp->state_dict().at("module.0.weight").device(), cuda0);
}

TEST(DataParallelOnGpus, OutputDeviceMayBeTheCpu) {
  SKIP_WITHOUT_GPUS(2);
  auto dp = std::make_shared<DataParallel>(
      mlp(7), factory(mlp), 0, DataParallelOptions{.device_ids = gpus(2), .output_device = kCPU});
  dp->module()->to(gpus(1)[0]);
  Generator data(4);
  Tensor out = dp->forward(randn({5, 6}, data));
  EXPECT_EQ(out.device(), kCPU);
  EXPECT_EQ(out.sizes(), (Shape{5, 3}));
  // One device in device_ids still scatters to it and gathers on output_device.
  auto one = std::make_shared<DataParallel>(
      mlp(7), factory(mlp), 0, DataParallelOptions{.device_ids = gpus(1), .output_device = kCPU});
  one->module()->to(gpus(1)[0]);
  EXPECT_EQ(one->forward(randn({5, 6}, data)).device(), kCPU);
}

TEST(DataParallelOnGpus, ErrorsNameTheDevice) {
  SKIP_WITHOUT_GPUS(2);
  // The module left on the CPU: PyTorch's message, and a hint.
  auto dp = std::make_shared<DataParallel>(mlp(7), factory(mlp), 0,
                                           DataParallelOptions{.device_ids = gpus(2)});
  Generator data(4);
  EXPECT_THROW(
      {
        try {
          dp->forward(randn({4, 6}, data));
        } catch (const Error& e) {
          EXPECT_NE(std::string(e.what()).find(
                        "module must have its parameters and buffers on device cuda:0 "
                        "(device_ids[0]) but found one of them on device: cpu"),
                    std::string::npos)
              << e.what();
          EXPECT_NE(e.hint().find("to(cuda:0)"), std::string::npos) << e.hint();
          throw;
        }
      },
      Error);
  auto options_error = [](int n, DataParallelOptions o) {
    try {
      DataParallel(factory(mlp), n, o);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_NE(options_error(3, {.device_ids = gpus(2)}).find("num_replicas is 3 but 2 device_ids"),
            std::string::npos);
  EXPECT_NE(options_error(0, {.device_ids = {gpus(1)[0], gpus(1)[0]}})
                .find("device cuda:0 appears twice"),
            std::string::npos);
  EXPECT_NE(options_error(2, {.output_device = kCPU}).find("output_device needs device_ids"),
            std::string::npos);
}
