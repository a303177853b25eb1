// Hostile files and configs (issue #11): every reader must refuse crafted input with a
// tandem::Error naming the file and what is wrong, quickly, without crashing, leaking or doing
// super-linear work. One test per attack; inputs come from tests/adversarial_inputs.h. The CLI
// side (exit code 2, "error:") is tests/cli/adversarial.sh.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <functional>

#include "framework/data/fashion_mnist.h"
#include "framework/io/checkpoint.h"
#include "framework/io/safetensors.h"
#include "framework/io/torch_file.h"
#include "framework/optim/factory.h"
#include "framework/tensor/factories.h"
#include "launch/config.h"
#include "launch/training_setup.h"
#include "tests/adversarial_inputs.h"

using namespace tandem;
using namespace tandem::adversarial;
namespace fs = std::filesystem;

namespace {

// A generous bound: CI has two slow cores, and sanitizers slow everything down.
#if defined(__SANITIZE_ADDRESS__)
constexpr double kBoundSeconds = 30;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr double kBoundSeconds = 30;
#else
constexpr double kBoundSeconds = 5;
#endif
#else
constexpr double kBoundSeconds = 5;
#endif

std::string temp_path(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("tandem_adv_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return (dir / name).string();
}

std::string file_with(const std::string& name, const std::string& bytes) {
  const std::string path = temp_path(name);
  write_bytes(path, bytes);
  return path;
}

double seconds(const std::function<void()>& fn) {
  const auto t0 = std::chrono::steady_clock::now();
  fn();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// fn must throw tandem::Error whose text holds every one of `needles`, within the bound.
void expect_refused(const std::function<void()>& fn, const std::vector<std::string>& needles) {
  std::string text = "<no error>";
  const double s = seconds([&] {
    try {
      fn();
    } catch (const Error& e) {
      text = e.what();
    }
  });
  for (const auto& n : needles) EXPECT_NE(text.find(n), std::string::npos) << n << " in: " << text;
  EXPECT_LT(s, kBoundSeconds) << text;
}

void expect_fast(const std::function<void()>& fn) { EXPECT_LT(seconds(fn), kBoundSeconds); }

// --- pickle and torch zip -------------------------------------------------------------------

void refuse_pt(const std::string& name, const std::string& bytes,
               std::vector<std::string> needles) {
  const std::string path = file_with(name, bytes);
  needles.push_back(path);
  expect_refused([&] { io::load_torch(path); }, needles);
}

std::map<std::string, std::string> floats(size_t n) { return {{"0", std::string(4 * n, '\0')}}; }

TEST(AdversarialPickle, MillionNestedListsAreRefusedNotOverflowTheStack) {
  refuse_pt("nested.pt", torch_zip(pickle_nested_lists(1'000'000)), {"nest", "levels deep"});
}

TEST(AdversarialPickle, MillionNestedTuplesAreRefused) {
  refuse_pt("tuples.pt", torch_zip(cat(kProto, "N", std::string(1'000'000, '\x85'), ".")),
            {"levels deep"});
}

// Nesting the stack shows is refused at its first level too many; nesting built through the memo
// (a list filled after it was nested) only the finished graph shows, and that check refuses it.
TEST(AdversarialPickle, DeepListsBuiltThroughTheMemoAreRefused) {
  refuse_pt("memo_deep.pt", torch_zip(pickle_memo_nested_lists(300'000, true)),
            {"containers nest 300002 levels deep (at most 100)"});
}

TEST(AdversarialPickle, TruncatedDeepPickleIsFreedWithoutRecursion) {
  // 300,000 levels already nested when the bytes end: a recursive destructor would overflow.
  refuse_pt("truncated_deep.pt", torch_zip(pickle_memo_nested_lists(300'000, false)),
            {"truncated pickle"});
}

TEST(AdversarialPickle, ListContainingItselfIsRefused) {
  refuse_pt("selfref.pt", torch_zip(pickle_self_list()), {"contains itself"});
}

TEST(AdversarialPickle, DictContainingItselfIsRefused) {
  const std::string nul(1, '\0');
  refuse_pt("selfdict.pt", torch_zip(cat(kProto, "}q", nul, pickle_text("me"), "h", nul, "s.")),
            {"contains itself"});
}

TEST(AdversarialPickle, MemoDagIsRefusedInsteadOfExpandingExponentially) {
  refuse_pt("dag.pt", torch_zip(pickle_memo_dag(60)), {"expand to more than"});
}

// Objects read as data (pickle_objects.h) must stay linear too: a BUILD state reused through
// the memo is not copied again and again, and modules shared in a DAG do not expand into a tree
// of 2^40 state_dict entries.
TEST(AdversarialPickle, ObjectsBuiltFromOneSharedStateAreRefused) {
  refuse_pt("shared_state.pt", torch_zip(pickle_objects_sharing_state(50'000, 100'000)),
            {"objects' attributes and sets copy more than"});
}

TEST(AdversarialPickle, ModuleDagIsRefusedInsteadOfExpandingExponentially) {
  refuse_pt("module_dag.pt", torch_zip(pickle_module_dag(40)), {"expand to more than"});
  // A few levels are a real (if odd) model: the shared child under both names at every level.
  const std::string path = file_with("module_dag3.pt", torch_zip(pickle_module_dag(3)));
  const Value v = io::load_torch(path);
  EXPECT_EQ(v.size(), 3u);
}

TEST(AdversarialPickle, ObjectRebuiltAgainAndAgainIsRefused) {
  refuse_pt("rebuilt.pt", torch_zip(pickle_object_rebuilt(50'000, 100'000)),
            {"objects' attributes and sets copy more than"});
}

// A megabyte of array data shared through the memo by a thousand arrays would make a gigabyte of
// tensors: the arrays' bytes together stay within a multiple of the pickle's size.
TEST(AdversarialPickle, ArraysSharingOneDataObjectAreRefused) {
  refuse_pt("arrays.pt", torch_zip(pickle_arrays_sharing_data(1 << 20, 1000)),
            {"numpy arrays hold more than"});
  const Value one =
      io::load_torch(file_with("array.pt", torch_zip(pickle_arrays_sharing_data(64, 1))));
  ASSERT_EQ(one.size(), 3u);
  EXPECT_EQ(one.items()[2].to_tensor().numel(), 16);
}

// The legacy stream: its storages' sizes come before their bytes, and each must match.
TEST(AdversarialPickle, LegacyStreamStoragesMustMatchTheirTensors) {
  const std::string w = pickle_strided_tensor({4}, {1}, 0, 4);  // storage '0': 4 floats
  const std::string four(16, '\0');
  const Value ok = io::load_torch(file_with("legacy_ok.pt", legacy_torch(w, {"0"}, {{4, four}})));
  EXPECT_EQ(ok.at("w").to_tensor().numel(), 4);
  refuse_pt("legacy_count.pt", legacy_torch(w, {"0"}, {{3, std::string(12, '\0')}}),
            {"storage '0' holds 3 elements, but its tensors declared 4"});
  refuse_pt("legacy_short.pt", legacy_torch(w, {"0"}, {{4, std::string(10, '\0')}}),
            {"truncated in the data of storage '0'"});
  refuse_pt("legacy_huge.pt",
            legacy_torch(pickle_strided_tensor({4}, {1}, 0, int64_t(1) << 40), {"0"}, {}),
            {"declares 4398046511104 bytes, more than the file holds"});
  refuse_pt("legacy_missing.pt", legacy_torch(w, {}, {}), {"no data for storage '0'"});
  refuse_pt("legacy_unused.pt", legacy_torch(w, {"0", "1"}, {{4, four}, {1, "abcd"}}),
            {"data for storage '1' that no tensor uses"});
  refuse_pt("legacy_big_endian.pt", legacy_torch(w, {"0"}, {{4, four}}, false), {"big-endian"});
}

TEST(AdversarialPickle, DictWithHundredThousandKeysLoadsInLinearTime) {
  const std::string path = file_with("dict100k.pt", torch_zip(pickle_dict(100'000)));
  Value v;
  expect_fast([&] { v = io::load_torch(path); });
  EXPECT_EQ(v.size(), 100'000u);
}

TEST(AdversarialPickle, StrideThatWrapsInt64IsOutsideTheStorage) {
  // 1023 elements at stride 2^62+1: the last index wraps to a small number and passed the old
  // bounds check, leaking 4 KB of heap into `tandem convert`'s output.
  refuse_pt("stride_wrap.pt",
            torch_zip(pickle_strided_tensor({1023}, {(int64_t(1) << 62) + 1}, 0, 4), floats(4)),
            {"tensor view outside its storage"});
}

TEST(AdversarialPickle, HugeStrideIsOutsideTheStorage) {
  refuse_pt("stride_huge.pt",
            torch_zip(pickle_strided_tensor({2}, {int64_t(1) << 62}, 0, 4), floats(4)),
            {"tensor view outside its storage"});
}

TEST(AdversarialPickle, OffsetThatOverflowsIsOutsideTheStorage) {
  refuse_pt("offset_wrap.pt",
            torch_zip(pickle_strided_tensor({2}, {1}, INT64_MAX - 1, 4), floats(4)),
            {"tensor view outside its storage"});
}

TEST(AdversarialPickle, NegativeStrideIsRefused) {
  refuse_pt("stride_negative.pt", torch_zip(pickle_strided_tensor({2}, {-1}, 1, 4), floats(4)),
            {"tensor view outside its storage"});
}

TEST(AdversarialPickle, SizeProductThatOverflowsIsRefused) {
  refuse_pt("size_wrap.pt",
            torch_zip(pickle_strided_tensor({int64_t(1) << 32, int64_t(1) << 32}, {0, 0}, 0, 4),
                      floats(4)),
            {"tensor view outside its storage"});
}

TEST(AdversarialPickle, StorageElementCountThatOverflowsIsRefused) {
  // 2^61 + 1 floats is 2^63 + 4 bytes: wraps a 64-bit product.
  refuse_pt("numel_wrap.pt",
            torch_zip(pickle_strided_tensor({1}, {1}, 0, (int64_t(1) << 61) + 1), floats(1)),
            {"impossible size"});
}

TEST(AdversarialPickle, StorageShorterThanDeclaredIsRefused) {
  refuse_pt("short_storage.pt", torch_zip(pickle_strided_tensor({5}, {1}, 0, 5), floats(4)),
            {"storage '0' has 16 bytes, expected 20"});
}

TEST(AdversarialPickle, TooManyDimensionsAreRefused) {
  refuse_pt("dims.pt",
            torch_zip(pickle_strided_tensor(std::vector<int64_t>(65, 1),
                                            std::vector<int64_t>(65, 1), 0, 4),
                      floats(4)),
            {"65 dimensions"});
}

TEST(AdversarialPickle, NonUtf8StringIsRefusedByTheReader) {
  refuse_pt("non_utf8.pt", torch_zip(pickle_non_utf8_key()), {"not valid UTF-8"});
}

TEST(AdversarialPickle, AppendToADictIsRefused) {
  refuse_pt("append_dict.pt", torch_zip(cat(kProto, "}Na.")), {"APPEND on a dict"});
}

TEST(AdversarialZip, EntryDeclaringFourGigabytesIsNotReportedAsMissing) {
  const std::string path = file_with("zip4g.pt", zip_declaring(uint64_t(4) << 30));
  std::string text;
  try {
    io::load_torch(path);
  } catch (const Error& e) {
    text = e.what();
  }
  EXPECT_NE(text.find(path), std::string::npos) << text;
  EXPECT_NE(text.find("record 'archive/data.pkl' declares 4294967296 bytes"), std::string::npos)
      << text;
  EXPECT_EQ(text.find("No such file"), std::string::npos) << text;
}

TEST(AdversarialZip, StorageKeyWithPathIsRefused) {
  std::string p = pickle_strided_tensor({1}, {1}, 0, 1);
  p.replace(p.find(pickle_text("0")), pickle_text("0").size(), pickle_text("../x"));
  refuse_pt("key_path.pt", torch_zip(p), {"invalid storage key"});
}

// --- safetensors ----------------------------------------------------------------------------

void refuse_st(const std::string& name, const std::string& bytes,
               std::vector<std::string> needles) {
  const std::string path = file_with(name, bytes);
  needles.push_back(path);
  expect_refused([&] { io::load_safetensors(path); }, needles);
}

TEST(AdversarialSafetensors, MillionNestedArraysAreRefusedWhileParsing) {
  refuse_st("nested.safetensors", safetensors_nested(1'000'000), {"nests deeper"});
}

TEST(AdversarialSafetensors, HundredThousandTensorsLoadInLinearTime) {
  const std::string path = file_with("many.safetensors", safetensors_many(100'000));
  io::TensorMap m;
  expect_fast([&] { m = io::load_safetensors(path); });
  EXPECT_EQ(m.size(), 100'000u);
  expect_fast([&] { EXPECT_TRUE(io::read_safetensors_metadata(path).empty()); });
}

TEST(AdversarialSafetensors, DimensionAboveInt64IsRefused) {
  refuse_st("dim.safetensors", safetensors_tensor("[9223372036854775809,0]", "[0,0]", 0),
            {"huge dimension"});
}

TEST(AdversarialSafetensors, ShapeProductThatOverflowsIsRefused) {
  refuse_st("shape_wrap.safetensors", safetensors_tensor("[4294967296,4294967296,4]", "[0,0]", 0),
            {"ValidationOverflow"});
}

TEST(AdversarialSafetensors, OffsetsPastTheDataAreRefused) {
  refuse_st("offsets.safetensors",
            safetensors_tensor("[0]", "[18446744073709551612,18446744073709551612]", 8),
            {"MetadataIncompleteBuffer"});
  refuse_st("offsets2.safetensors", safetensors_tensor("[1]", "[0,4]", 0),
            {"MetadataIncompleteBuffer"});
}

TEST(AdversarialSafetensors, ReversedOffsetsAreRefused) {
  refuse_st("reversed.safetensors", safetensors_tensor("[1]", "[8,4]", 8), {"TensorInvalidInfo"});
}

TEST(AdversarialSafetensors, HeaderLengthBeyondTheLimitIsRefused) {
  refuse_st("header_len.safetensors", le64(uint64_t(1) << 63) + "{}", {"HeaderTooLarge"});
}

TEST(AdversarialSafetensors, NonUtf8HeaderIsRefused) {
  refuse_st("utf8.safetensors", safetensors("{\"\xff\":1}"), {"not valid UTF-8 JSON"});
}

// --- tandem checkpoints ---------------------------------------------------------------------

// A format-1 checkpoint without tensors (its tensor CRC is that of nothing), whose metadata is
// `tandem_json`: how an edited or crafted file looks to the loader.
std::string format1_checkpoint(const std::string& name, const std::string& tandem_json) {
  const std::string path = temp_path(name);
  io::Metadata m{{"format", "tandem-checkpoint"}, {"crc32", "0"}, {"tandem", tandem_json}};
  io::save_safetensors(path, {}, m);
  return path;
}

std::string metadata_with(const std::string& field, const std::string& value) {
  std::map<std::string, std::string> f{
      {"format_version", "1"},  {"epoch", "1"},          {"global_step", "8"},
      {"step_in_epoch", "0"},   {"best_metric", "null"}, {"is_best", "false"},
      {"monitor", "\"loss\""},  {"world_size", "1"},     {"rng", "{}"},
      {"model_keys", "[]"},     {"optimizer", "null"},   {"scheduler", "null"},
      {"config", "\"seed: 0\""}};
  f[field] = value;
  std::string j = "{";
  for (const auto& [k, v] : f) j += cat(j.size() > 1 ? "," : "", "\"", k, "\":", v);
  j += "}";
  return j;
}

void refuse_ck(const std::string& name, const std::string& tandem_json,
               std::vector<std::string> needles) {
  const std::string path = format1_checkpoint(name, tandem_json);
  needles.push_back(path);
  expect_refused([&] { io::load_checkpoint(path); }, needles);
}

TEST(AdversarialCheckpoint, Format1WithoutMetadataChecksumStillLoads) {
  const std::string path = format1_checkpoint("v1.safetensors", metadata_with("epoch", "3"));
  EXPECT_EQ(io::load_checkpoint(path).epoch, 3);
}

TEST(AdversarialCheckpoint, HundredThousandNestedLevelsInMetadataAreRefused) {
  refuse_ck("nested_meta.safetensors",
            metadata_with("optimizer", std::string(100'000, '[') + std::string(100'000, ']')),
            {"nests more than"});
}

TEST(AdversarialCheckpoint, NegativeStepInEpochIsRefused) {
  refuse_ck("step_in_epoch.safetensors", metadata_with("step_in_epoch", "-5"),
            {"checkpoint field 'step_in_epoch'"});
}

TEST(AdversarialCheckpoint, EpochOfTheWrongTypeIsRefused) {
  refuse_ck("epoch_type.safetensors", metadata_with("epoch", "\"three\""),
            {"checkpoint field 'epoch'"});
}

TEST(AdversarialCheckpoint, IntegerBeyondInt64IsRefused) {
  refuse_ck("global_step.safetensors", metadata_with("global_step", "18446744073709551615"),
            {"global_step", "out of range"});
}

TEST(AdversarialCheckpoint, ZeroWorldSizeIsRefused) {
  refuse_ck("world_size.safetensors", metadata_with("world_size", "0"),
            {"checkpoint field 'world_size'"});
}

TEST(AdversarialCheckpoint, RepeatedKeyIsRefused) {
  refuse_ck("repeated.safetensors", metadata_with("rng", "{\"a\":\"x\",\"a\":\"y\"}"),
            {"rng", "repeated key 'a'"});
}

TEST(AdversarialCheckpoint, BadFloatEncodingIsRefused) {
  refuse_ck("float.safetensors", metadata_with("best_metric", "{\"__float__\":\"1e400x\"}"),
            {"best_metric", "__float__"});
}

TEST(AdversarialCheckpoint, ReferenceToAMissingTensorIsRefused) {
  refuse_ck("tensor_ref.safetensors",
            metadata_with("optimizer", "{\"state\":{\"__tensor__\":\"optimizer/x\"}}"),
            {"optimizer.state", "not in the file"});
}

TEST(AdversarialCheckpoint, ClaimingFormat2WithoutItsChecksumIsRefused) {
  refuse_ck("v2_no_checksum.safetensors", metadata_with("format_version", "2"), {"checksum"});
}

TEST(AdversarialCheckpoint, EditedMetadataIsCaughtByTheChecksum) {
  io::Checkpoint ck;
  ck.epoch = 4;
  ck.model.insert("w", ones({2}));
  ck.config_yaml = "seed: 0\n";
  const std::string path = temp_path("edited.safetensors");
  io::save_checkpoint(ck, path);
  std::string bytes = [&] {
    std::ifstream f(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), {});
  }();
  const size_t at = bytes.find("\\\"epoch\\\":4");  // JSON inside a JSON string
  ASSERT_NE(at, std::string::npos);
  bytes[at + 10] = '9';
  const std::string edited = file_with("edited2.safetensors", bytes);
  expect_refused([&] { io::load_checkpoint(edited); }, {edited, "metadata is corrupted"});
}

// A run's model, optimizer and scheduler from a config, and a checkpoint of it.
struct TrainingRun {
  launch::RunConfig cfg;
  nn::ModulePtr model;
  std::unique_ptr<optim::Optimizer> optimizer;
  std::unique_ptr<optim::LRScheduler> scheduler;
  explicit TrainingRun(const std::string& optimizer_yaml) {
    cfg = launch::parse_config(
        "model: {name: sequential, layers: [flatten, {linear: {in_features: 64, out_features: "
        "32}}]}\n"
        "optimizer: " +
            optimizer_yaml + "\nscheduler: {name: steplr, step_size: 2}\n",
        "run.yaml");
    model = launch::build_model_from_config(cfg);
    optimizer = optim::make_optimizer(cfg.optimizer, model->parameters());
    scheduler = optim::make_scheduler(cfg.scheduler, *optimizer, 10, 8);
  }
  io::Checkpoint checkpoint() const {
    io::Checkpoint ck;
    ck.epoch = 1;
    ck.model = model->state_dict();
    ck.optimizer = optimizer->state_dict();
    ck.scheduler = scheduler->state_dict();
    ck.config_yaml = launch::to_yaml(cfg);
    return ck;
  }
  // Saves and reloads `ck` (a valid checksum: the file says what the test put in it), then
  // checks it as the trainer does before resuming.
  void resume(const io::Checkpoint& ck, const std::string& path) {
    io::save_checkpoint(ck, path);
    const io::Checkpoint back = io::load_checkpoint(path);
    launch::check_resume(back, path, *optimizer, scheduler.get(), 8, 1);
  }
};

TEST(AdversarialCheckpoint, MomentumBufferOfAnotherShapeIsRefusedBeforeStep) {
  TrainingRun run("{name: sgd, lr: 0.1, momentum: 0.9}");
  io::Checkpoint ck = run.checkpoint();
  Value state = Value::dict();
  state.set("momentum_buffer", Value(zeros({4})));  // the parameter has 32 x 64 elements
  ck.optimizer.at("state").set(Value(int64_t(0)), state);
  const std::string path = temp_path("momentum.safetensors");
  expect_refused([&] { run.resume(ck, path); },
                 {path, "optimizer.state.0.momentum_buffer", "[4]", "[32, 64]"});
  // The optimizer itself refuses too, and keeps its state.
  EXPECT_THROW(run.optimizer->load_state_dict(ck.optimizer), Error);
}

TEST(AdversarialCheckpoint, AdamMomentOfAnotherShapeIsRefused) {
  TrainingRun run("{name: adam, lr: 0.001}");
  io::Checkpoint ck = run.checkpoint();
  Value state = Value::dict();
  state.set("step", Value(scalar_tensor(3)));
  state.set("exp_avg", Value(zeros({32, 64})));
  state.set("exp_avg_sq", Value(zeros({64, 32})));
  ck.optimizer.at("state").set(Value(int64_t(0)), state);
  const std::string path = temp_path("adam.safetensors");
  expect_refused([&] { run.resume(ck, path); }, {path, "optimizer.state.0.exp_avg_sq"});
}

TEST(AdversarialCheckpoint, BetasOfTheWrongLengthAreRefused) {
  TrainingRun run("{name: adam, lr: 0.001}");
  io::Checkpoint ck = run.checkpoint();
  ck.optimizer.at("param_groups").items()[0].set("betas", Value::tuple({Value(0.9)}));
  const std::string path = temp_path("betas.safetensors");
  expect_refused([&] { run.resume(ck, path); }, {path, "optimizer.param_groups.0.betas"});
}

TEST(AdversarialCheckpoint, EmptySchedulerBaseLrsAreRefused) {
  TrainingRun run("{name: sgd, lr: 0.1}");
  io::Checkpoint ck = run.checkpoint();
  ck.scheduler.set("base_lrs", Value::list());
  const std::string path = temp_path("base_lrs.safetensors");
  expect_refused([&] { run.resume(ck, path); }, {path, "scheduler.base_lrs", "got 0 values"});
  // load_state_dict refuses as well and leaves the scheduler as it was.
  EXPECT_THROW(run.scheduler->load_state_dict(ck.scheduler), Error);
  EXPECT_EQ(run.scheduler->state_dict().at("base_lrs").size(), 1u);
}

TEST(AdversarialCheckpoint, ZeroStepSizeIsRefused) {
  TrainingRun run("{name: sgd, lr: 0.1}");
  io::Checkpoint ck = run.checkpoint();
  ck.scheduler.set("step_size", Value(int64_t(0)));
  const std::string path = temp_path("step_size.safetensors");
  expect_refused([&] { run.resume(ck, path); }, {path, "scheduler.step_size"});
}

TEST(AdversarialCheckpoint, StepInEpochBeyondTheEpochIsRefused) {
  TrainingRun run("{name: sgd, lr: 0.1}");
  io::Checkpoint ck = run.checkpoint();
  ck.step_in_epoch = 1'000'000;
  const std::string path = temp_path("position.safetensors");
  expect_refused([&] { run.resume(ck, path); }, {path, "step_in_epoch"});
}

TEST(AdversarialCheckpoint, UntouchedCheckpointResumes) {
  TrainingRun run("{name: adam, lr: 0.001}");
  EXPECT_NO_THROW(run.resume(run.checkpoint(), temp_path("ok.safetensors")));
}

// --- YAML configs ---------------------------------------------------------------------------

TEST(AdversarialYaml, BillionLaughsIsRefusedQuickly) {
  expect_refused([&] { launch::parse_config(yaml_billion_laughs(12), "laughs.yaml"); },
                 {"laughs.yaml", "expands to more than"});
}

TEST(AdversarialYaml, BillionLaughsInACheckpointsConfigIsRefused) {
  io::Checkpoint ck;
  ck.config_yaml = yaml_billion_laughs(12);
  const std::string path = temp_path("laughs.safetensors");
  io::save_checkpoint(ck, path);
  // What `tandem eval --checkpoint` does with the stored config.
  expect_refused(
      [&] {
        launch::parse_config(io::load_checkpoint(path).config_yaml, path + " (stored config)");
      },
      {path, "expands to more than"});
}

TEST(AdversarialYaml, DeepNestingIsRefused) {
  expect_refused(
      [&] {
        launch::parse_config(cat("model: ", std::string(100'000, '['), std::string(100'000, ']')),
                             "deep.yaml");
      },
      {"deep.yaml"});
}

TEST(AdversarialYaml, NonUtf8ConfigIsRefused) {
  expect_refused([&] { launch::parse_config("seed: 0\nmodel: {name: \"\xff\"}\n", "bin.yaml"); },
                 {"bin.yaml", "not UTF-8"});
}

TEST(AdversarialYaml, HugeLayerWidthIsACleanOutOfMemoryError) {
  for (const char* layer :
       {"{linear: {in_features: 64, out_features: 4611686018427387904}}",
        "{linear: {in_features: 64, out_features: 288230376151711744, bias: false}}"}) {
    const auto cfg = launch::parse_config(
        std::string("model: {name: sequential, layers: [flatten, ") + layer + "]}\n", "big.yaml");
    expect_refused([&] { launch::build_model_from_config(cfg); }, {"out of memory", "shape"});
  }
}

// --- IDX (Fashion-MNIST) --------------------------------------------------------------------

std::string idx_root(const std::string& name, const std::vector<uint32_t>& image_dims,
                     const std::string& payload) {
  const std::string dir = temp_path(name);
  fs::create_directories(dir);
  write_idx_gz(dir + "/train-images-idx3-ubyte.gz", 0x803, image_dims, payload);
  write_idx_gz(dir + "/train-labels-idx1-ubyte.gz", 0x801, {4}, std::string(4, '\0'));
  return dir;
}

TEST(AdversarialIdx, HeaderWhoseSizeWrapsToZeroIsRefused) {
  // 4 x 2^31 x 2^31 bytes is 2^64: zero in 64-bit arithmetic.
  const std::string dir = idx_root("idx_wrap", {4, 1u << 31, 1u << 31}, "");
  expect_refused([&] { data::FashionMnist(dir, "train"); },
                 {dir + "/train-images-idx3-ubyte.gz", "impossible size"});
}

TEST(AdversarialIdx, HeaderLargerThanTheFileIsRefusedBeforeAllocating) {
  const std::string dir = idx_root("idx_big", {60000, 28000, 28000}, "");
  expect_refused([&] { data::FashionMnist(dir, "train"); },
                 {dir + "/train-images-idx3-ubyte.gz", "can hold"});
}

TEST(AdversarialIdx, TruncatedDataIsRefused) {
  const std::string dir = idx_root("idx_short", {4, 28, 28}, std::string(100, '\0'));
  expect_refused([&] { data::FashionMnist(dir, "train"); },
                 {dir + "/train-images-idx3-ubyte.gz", "truncated"});
}

// --- tensors --------------------------------------------------------------------------------

TEST(AdversarialTensor, AsStridedOverflowIsRefused) {
  Tensor t = zeros({4});
  expect_refused([&] { t.as_strided({1023}, {(int64_t(1) << 62) + 1}, 0); },
                 {"as_strided", "overflowing"});
  expect_refused([&] { t.as_strided({2}, {1}, 3); }, {"out of bounds"});
}

TEST(AdversarialTensor, ShapeProductOverflowIsACleanError) {
  expect_refused([&] { empty({int64_t(1) << 40, int64_t(1) << 40}); }, {"out of memory"});
}

}  // namespace
