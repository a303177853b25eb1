// Run config: defaults, types, unknown keys with suggestions, --set overrides, round trip.
#include <gtest/gtest.h>

#include "launch/config.h"
#include "tests/temp_dir.h"

#include <cstdio>

using namespace tandem;
using namespace tandem::launch;

namespace {
std::string error_of(const std::string& yaml, const std::vector<std::string>& overrides = {}) {
  try {
    parse_config(yaml, "run.yaml", overrides);
  } catch (const Error& e) {
    return std::string(e.what()) + " | " + e.hint();
  }
  return "";
}
}  // namespace

TEST(Config, DefaultsAndValues) {
  RunConfig c = parse_config(R"(
seed: 3
model:
  name: sequential
  layers:
    - linear: {in_features: 4, out_features: 2}
    - relu
data: {dataset: synthetic, batch_size: 8, mean: [0.5], std: [0.25]}
optimizer: {name: sgd, lr: 0.05, momentum: 0.9, nesterov: false}
scheduler: {name: cosineannealinglr, T_max: 10}
training: {epochs: 2}
)",
                             "run.yaml");
  EXPECT_EQ(c.seed, 3);
  EXPECT_EQ(c.data.batch_size, 8);
  EXPECT_EQ(c.data.mean, (std::vector<double>{0.5}));
  EXPECT_EQ(c.training.epochs, 2);
  EXPECT_EQ(c.training.log_every, 50);  // default
  EXPECT_EQ(c.checkpoint.keep_last, 3);
  EXPECT_EQ(c.optimizer.at("lr").to_double(), 0.05);
  EXPECT_EQ(c.optimizer.at("nesterov").to_bool(), false);
  EXPECT_EQ(c.model.at("layers").items()[1].to_string(), "relu");
  EXPECT_EQ(c.model.at("layers").items()[0].at("linear").at("in_features").to_int(), 4);
  EXPECT_EQ(c.scheduler.at("T_max").to_int(), 10);
  // PyTorch's two drop_last flags are two keys: the loader's and DistributedSampler's.
  EXPECT_FALSE(c.data.drop_last);
  EXPECT_FALSE(c.data.sampler_drop_last);
  const RunConfig both =
      parse_config("data: {drop_last: true, sampler_drop_last: true}\n", "run.yaml");
  EXPECT_TRUE(both.data.drop_last);
  EXPECT_TRUE(both.data.sampler_drop_last);
}

TEST(Config, UnknownKeySuggestsClosest) {
  const std::string e = error_of("data:\n  batch_sise: 3\n");
  EXPECT_NE(e.find("run.yaml:2"), std::string::npos) << e;
  EXPECT_NE(e.find("data.batch_sise: unknown key"), std::string::npos) << e;
  EXPECT_NE(e.find("did you mean 'data.batch_size'"), std::string::npos) << e;
  const std::string top = error_of("trainng: {epochs: 1}\n");
  EXPECT_NE(top.find("did you mean 'training'"), std::string::npos) << top;
}

TEST(Config, WrongTypeNamesKeyAndLine) {
  const std::string e = error_of("seed: 1\ntraining:\n  epochs: ten\n");
  EXPECT_NE(e.find("run.yaml:3: training.epochs: expected an integer, got 'ten'"),
            std::string::npos)
      << e;
  EXPECT_NE(error_of("data: {horizontal_flip: maybe}").find("expected true or false"),
            std::string::npos);
  EXPECT_NE(error_of("data: {dataset: imagenet}").find("data.dataset"), std::string::npos);
  EXPECT_NE(error_of("training: [1, 2").find("invalid YAML"), std::string::npos);
}

// A cross-field check whose key is absent from a section that is present: the error names the
// key and its section's line (found by the fuzzer: the lookup used to throw YAML::InvalidNode,
// which is no tandem::Error and ended the process).
TEST(Config, MissingKeyInPresentSection) {
  const std::string e = error_of("model: {name: mlp}\noptimizer: {lr: 0.1}\n");
  EXPECT_NE(e.find("run.yaml:2: optimizer.name: missing (sgd, adam or adamw)"), std::string::npos)
      << e;
  const std::string m = error_of("model:\n  nn, {line layers: &l the sm\n");
  EXPECT_NE(m.find("model"), std::string::npos) << m;
  const std::string s =
      error_of("model: {name: mlp}\noptimizer: {name: sgd}\nscheduler: {T_max: 3}\n");
  EXPECT_NE(s.find("scheduler.name: missing"), std::string::npos) << s;
}

TEST(Config, SetOverrides) {
  RunConfig c = parse_config(
      "optimizer: {name: sgd, lr: 0.1}\n", "run.yaml",
      {"optimizer.lr=0.5", "training.epochs=7", "data.mean=[0.1, 0.2]", "data.std=[1, 1]"});
  EXPECT_EQ(c.optimizer.at("lr").to_double(), 0.5);
  EXPECT_EQ(c.training.epochs, 7);
  EXPECT_EQ(c.data.mean, (std::vector<double>{0.1, 0.2}));
  EXPECT_NE(error_of("", {"training.epoch=3"}).find("did you mean 'training.epochs'"),
            std::string::npos);
  EXPECT_NE(error_of("", {"oops"}).find("--set expects key.path=value"), std::string::npos);
}

TEST(Config, SetReachesIntoListsByPosition) {
  const std::string model =
      "model:\n  name: sequential\n  layers:\n    - linear: {in_features: 4, out_features: 8}\n"
      "    - relu\n    - linear: {in_features: 8, out_features: 2}\n";
  RunConfig c = parse_config(model, "run.yaml",
                             {"model.layers.2.linear.out_features=3", "model.layers.1=tanh"});
  const auto& layers = c.model.at("layers").items();
  ASSERT_EQ(layers.size(), 3u);  // the other items stay
  EXPECT_EQ(layers[0].at("linear").at("out_features").to_int(), 8);
  EXPECT_EQ(layers[1].to_string(), "tanh");
  EXPECT_EQ(layers[2].at("linear").at("out_features").to_int(), 3);
  EXPECT_EQ(layers[2].at("linear").at("in_features").to_int(), 8);
  EXPECT_NE(error_of(model, {"model.layers.3=relu"})
                .find("--set model.layers.3: model.layers is a list of 3 items; '3' is not "
                      "a position in it"),
            std::string::npos)
      << error_of(model, {"model.layers.3=relu"});
  EXPECT_NE(error_of(model, {"model.layers.x.linear=1"}).find("'x' is not a position"),
            std::string::npos);
}

TEST(Config, RoundTripThroughYaml) {
  RunConfig c = parse_config(
      "model: {name: resnet18, num_classes: 10}\nscheduler: {name: steplr, step_size: 3}\n"
      "data: {mean: [0.286], std: [0.353]}\n",
      "run.yaml");
  const std::string y = to_yaml(c);
  EXPECT_EQ(to_yaml(parse_config(y, "saved.yaml")), y);
  EXPECT_NE(config_reference().find("data.batch_size (default: 64)"), std::string::npos);
}

TEST(Config, MissingFile) {
  try {
    load_config("/nonexistent/run.yaml");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/run.yaml"), std::string::npos);
  }
}

// A directory (which an ifstream opens and reads as nothing) is an error naming it, not an
// empty config that trains the defaults; so is a file that cannot be read.
TEST(Config, DirectoryIsNotAConfig) {
  const tandem::testing::TempDir dir;
  try {
    load_config(dir.path());
    FAIL() << "a directory was read as a config";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(dir.path() + " is a directory"), std::string::npos)
        << e.what();
    EXPECT_FALSE(e.hint().empty());
  }
  // An empty file stays an empty config (the defaults), as documented.
  const std::string empty = dir.file("empty.yaml");
  std::FILE* f = std::fopen(empty.c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fclose(f);
  EXPECT_EQ(load_config(empty).training.epochs, 10);
}

TEST(Config, EntriesForRankAgreement) {
  RunConfig c = parse_config(R"(
model: {name: sequential, layers: [flatten, {linear: {in_features: 4, out_features: 2}}]}
optimizer: {name: sgd, lr: 0.1}
scheduler: null
data: {root: /node/local/copy, prefetch: false}
training: {threads: 4}
)",
                             "run.yaml");
  const auto all = config_entries(c);
  const auto shared = config_entries(c, /*rank_local=*/false);
  auto value = [](const std::vector<std::pair<std::string, std::string>>& entries,
                  const std::string& key) {
    for (const auto& [k, v] : entries)
      if (k == key) return v;
    return std::string("<missing>");
  };
  // Free-form sections expand to one entry per leaf; numbers are in their shortest form.
  EXPECT_EQ(value(shared, "optimizer.lr"), "0.1");
  EXPECT_EQ(value(shared, "model.layers[0]"), "flatten");
  EXPECT_EQ(value(shared, "model.layers[1].linear.out_features"), "2");
  EXPECT_EQ(value(shared, "scheduler"), "~");
  EXPECT_EQ(value(shared, "training.stop_on_nan"), "true");
  // Rank-local keys only in the full list.
  for (const char* key : {"data.root", "data.prefetch", "training.threads"}) {
    EXPECT_TRUE(is_rank_local_key(key));
    EXPECT_NE(value(all, key), "<missing>") << key;
    EXPECT_EQ(value(shared, key), "<missing>") << key;
  }
  EXPECT_FALSE(is_rank_local_key("checkpoint.dir"));
  EXPECT_NE(config_reference().find("training.threads (default: 1)\n    compute (BLAS) threads per "
                                    "rank (may differ between the ranks of a job)"),
            std::string::npos);
}

// The transform lists are checked when the config is read: a mistake names the list entry, the
// transform and the line, with a suggestion; a good list round-trips through to_yaml.
TEST(Config, TransformListsAreCheckedWithTheirLine) {
  const std::string base = "model: {name: mlp}\noptimizer: {name: sgd, lr: 0.1}\n";
  const std::string typo = error_of(base +
                                    "data:\n  train_transforms:\n    - randomcrop: {size: 28}\n"
                                    "    - randomhorizontalflp\n");
  EXPECT_NE(typo.find("run.yaml:5"), std::string::npos) << typo;
  EXPECT_NE(typo.find("data.train_transforms[1]: unknown transform 'randomhorizontalflp'"),
            std::string::npos)
      << typo;
  EXPECT_NE(typo.find("did you mean 'randomhorizontalflip'"), std::string::npos) << typo;
  const std::string missing =
      error_of(base + "data:\n  val_transforms: [{randomcrop: {padding: 4}}]\n");
  EXPECT_NE(missing.find("data.val_transforms[0].randomcrop: missing required argument 'size'"),
            std::string::npos)
      << missing;
  const std::string arg = error_of(base +
                                   "data:\n  train_transforms: [{normalize: {mean: [0.5], "
                                   "std: [0.5], inplce: true}}]\n");
  EXPECT_NE(arg.find("data.train_transforms[0].normalize: unknown argument 'inplce'; did you "
                     "mean 'inplace'?"),
            std::string::npos)
      << arg;
  EXPECT_NE(error_of(base + "data:\n  train_transforms: {randomcrop: 3}\n").find("expected a list"),
            std::string::npos);

  const RunConfig c =
      parse_config(base +
                       "data:\n  train_transforms: [{randomcrop: {size: 28, padding: 4}}, "
                       "randomhorizontalflip]\nloss: {weight: [1, 2], label_smoothing: 0.1}\n",
                   "run.yaml");
  EXPECT_EQ(c.data.train_transforms.size(), 2u);
  EXPECT_EQ(c.loss.weight, (std::vector<double>{1, 2}));
  const RunConfig back = parse_config(to_yaml(c), "back.yaml");
  EXPECT_EQ(back.data.train_transforms, c.data.train_transforms);
  EXPECT_EQ(back.loss.label_smoothing, 0.1);
  EXPECT_NE(error_of(base + "loss: {label_smoothing: 2}\n").find("loss.label_smoothing"),
            std::string::npos);
  EXPECT_NE(error_of(base + "checkpoint: {monitor: miou}\n").find("accuracy, loss, iou or dice"),
            std::string::npos);
}

// YAML keys are unique: a repeated key, at the top, in a section or inside a free-form section
// (the optimizer's arguments), is an error naming the file, the line and the key, not a silent
// "the last one wins".
TEST(Config, DuplicateKeysAreErrors) {
  std::string e = error_of("seed: 1\ntraining: {epochs: 2}\nseed: 2\n");
  EXPECT_NE(e.find("run.yaml:3: seed: duplicate key (first at line 1)"), std::string::npos) << e;
  EXPECT_NE(e.find("keep one 'seed'"), std::string::npos) << e;
  e = error_of("data:\n  batch_size: 8\ntraining: {epochs: 2}\ndata:\n  batch_size: 16\n");
  EXPECT_NE(e.find("run.yaml:4: data: duplicate key (first at line 1)"), std::string::npos) << e;
  e = error_of("data:\n  batch_size: 8\n  batch_size: 16\n");
  EXPECT_NE(e.find("run.yaml:3: data.batch_size: duplicate key (first at line 2)"),
            std::string::npos)
      << e;
  e = error_of("optimizer: {name: sgd, lr: 0.1, lr: 0.2}\n");
  EXPECT_NE(e.find("run.yaml:1: optimizer.lr: duplicate key"), std::string::npos) << e;
  e = error_of(
      "model:\n  name: sequential\n  layers:\n    - linear: {in_features: 2, "
      "out_features: 2, in_features: 3}\n");
  EXPECT_NE(e.find("run.yaml:4: model.layers[0].linear.in_features: duplicate key"),
            std::string::npos)
      << e;
  // --set replaces a key's value: no duplicate.
  EXPECT_EQ(error_of("seed: 1\n", {"seed=2"}), "");
  EXPECT_EQ(parse_config("seed: 1\n", "run.yaml", {"seed=2"}).seed, 2);
}

// Values that used to be accepted and fail (or do something odd) later: each is an error at
// load, naming the key and its line, so --print-config catches it.
TEST(Config, RangesAreCheckedAtLoad) {
  const std::pair<const char*, const char*> cases[] = {
      {"data:\n  random_crop_padding: -1\n", "run.yaml:2: data.random_crop_padding: must be >= 0"},
      {"training:\n  max_steps_per_epoch: -3\n",
       "run.yaml:2: training.max_steps_per_epoch: must be >= 0"},
      {"data:\n  eval_batch_size: -1\n", "run.yaml:2: data.eval_batch_size: must be positive"},
      {"data:\n  synthetic_train_size: 0\n",
       "run.yaml:2: data.synthetic_train_size: must be positive"},
      {"data:\n  synthetic_test_size: -5\n",
       "run.yaml:2: data.synthetic_test_size: must be positive"},
      {"data:\n  synthetic_classes: 0\n", "run.yaml:2: data.synthetic_classes: must be positive"},
      {"data:\n  synthetic_shape: [1, 0, 8]\n",
       "run.yaml:2: data.synthetic_shape: every size must be positive"},
      {"data:\n  synthetic_shape: []\n", "run.yaml:2: data.synthetic_shape: must name"},
  };
  for (const auto& [yaml, expected] : cases) {
    const std::string e = error_of(yaml);
    EXPECT_NE(e.find(expected), std::string::npos) << yaml << " -> " << e;
  }
  // 0 keeps its documented meaning.
  EXPECT_EQ(error_of("data: {eval_batch_size: 0, random_crop_padding: 0}\n"
                     "training: {max_steps_per_epoch: 0}\n"),
            "");
}
