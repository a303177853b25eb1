// Files: safetensors (spec validation, mmap), tandem checkpoints (round trip, corruption,
// atomic replacement), PyTorch .pt files made by torch 1.13 (tests/fixtures/make_io.py) incl.
// module. prefixes and shared storages, tandem-written .pt read back (and by PyTorch when
// installed), and hostile input that must be refused without running anything. On every device
// (IoOnDevice, CheckpointOnDevice /*/cpu, .../cuda): files written from device tensors have the
// bytes of the CPU copies' files, and files load into a model and an optimizer on the device.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "framework/io/atomic_write.h"
#include "framework/io/checkpoint.h"
#include "framework/io/safetensors.h"
#include "framework/io/serialize.h"
#include "framework/io/torch_file.h"
#include "framework/io/zip_archive.h"
#include "framework/nn/models/simple.h"
#include "framework/nn/nn.h"
#include "framework/ops/ops.h"
#include "framework/optim/adam.h"
#include "framework/optim/grad_scaler.h"
#include "framework/optim/lr_scheduler.h"
#include "framework/optim/sgd.h"
#include "launch/subprocess.h"
#include "launch/training_setup.h"
#include "tests/device_compare.h"
#include "tests/device_test.h"
#include "tests/error_text.h"
#include "tests/fixtures_dir.h"
#include "tests/value_tensors.h"

using namespace tandem;
namespace fs = std::filesystem;

namespace {

std::string fixture(const std::string& name) { return tandem::testing::fixture_path("io/" + name); }

// make_io.py's net(): the model of its state_dicts, whole-model pickles and TorchScript archives.
std::shared_ptr<nn::Sequential> make_io_net() {
  return std::make_shared<nn::Sequential>(std::vector<nn::ModulePtr>{
      std::make_shared<nn::Conv2d>(1, 2, 3), std::make_shared<nn::BatchNorm2d>(2),
      std::make_shared<nn::ReLU>(), std::make_shared<nn::Flatten>(),
      std::make_shared<nn::Linear>(8, 3)});
}

std::string temp_path(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("tandem_io_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return (dir / name).string();
}

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f << bytes;
}

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

const nlohmann::json& expected() {
  static const nlohmann::json j = nlohmann::json::parse(std::ifstream(fixture("expected.json")));
  return j;
}

void expect_tensor(const Tensor& t, const nlohmann::json& e, const std::string& what) {
  EXPECT_EQ(t.sizes(), e["shape"].get<Shape>()) << what;
  EXPECT_EQ(dtype_name(t.dtype()), e["dtype"].get<std::string>()) << what;
  EXPECT_EQ(t.to(DType::Float32).to_vector(), e["values"].get<std::vector<double>>()) << what;
}

io::TensorMap sample() {
  io::TensorMap m;
  m.insert("w", arange(6, TensorOptions(DType::Float32)).reshape({2, 3}));
  m.insert("h", tensor({0.5, 1.5}).to(DType::Float16));
  m.insert("b", tensor({1, 0}).to(DType::Bool));
  m.insert("i", arange(3));
  m.insert("empty", zeros({0, 4}));
  m.insert("scalar", scalar_tensor(2.5, TensorOptions(DType::Float64)));
  return m;
}

}  // namespace

TEST(Safetensors, RoundTripWithMetadataAndMmap) {
  const std::string path = temp_path("a.safetensors");
  io::save_safetensors(path, sample(), {{"epoch", "3"}});
  for (bool mmap : {false, true}) {
    io::Metadata meta;
    auto back = io::load_safetensors(path, &meta, mmap);
    EXPECT_EQ(meta.at("epoch"), "3");
    ASSERT_EQ(back.size(), 6u);
    for (const auto& [k, t] : sample()) {
      EXPECT_EQ(back.at(k).dtype(), t.dtype()) << k;
      EXPECT_TRUE(equal(back.at(k).to(DType::Float64), t.to(DType::Float64))) << k;
    }
  }
  // Layout as the reference writer: 8-byte aligned header, dtype size descending then name.
  const std::string bytes = read_file(path);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | uint8_t(bytes[size_t(i)]);
  EXPECT_EQ(n % 8, 0u);
  const std::string header = bytes.substr(8, n);
  EXPECT_LT(header.find("\"i\""), header.find("\"w\""));  // I64 before F32
  EXPECT_LT(header.find("\"w\""), header.find("\"h\""));  // F32 before F16
}

TEST(Safetensors, HostileFilesAreRefusedWithThePath) {
  const std::string good = io::serialize_safetensors(sample());
  auto refuse = [](const std::string& bytes, const std::string& expect) {
    const std::string e = error_of([&] {
      io::parse_safetensors(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(),
                            "x.safetensors");
    });
    EXPECT_NE(e.find("x.safetensors"), std::string::npos) << e;
    EXPECT_NE(e.find(expect), std::string::npos) << e;
  };
  refuse(good.substr(0, 5), "HeaderTooSmall");
  refuse(good.substr(0, good.size() - 3), "MetadataIncompleteBuffer");
  refuse(good + "xx", "MetadataIncompleteBuffer");
  std::string huge = good;
  huge[7] = '\x7f';
  refuse(huge, "HeaderTooLarge");
  std::string past = good;
  past[0] = char(0xff);
  past[1] = char(0xff);
  past[2] = char(0x0f);
  refuse(past, "InvalidHeaderLength");
  auto with_header = [](const std::string& json) {
    std::string h = json;
    h.append((8 - h.size() % 8) % 8, ' ');
    std::string out(8, '\0');
    for (int i = 0; i < 8; ++i) out[size_t(i)] = char((h.size() >> (8 * i)) & 0xff);
    return out + h;
  };
  refuse(with_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{"
                     "\"dtype\":\"F32\",\"shape\":[2],"
                     "\"data_offsets\":[4,12]}}") +
             std::string(12, '\0'),
         "InvalidOffset");
  refuse(with_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,8]}}") +
             std::string(8, '\0'),
         "TensorInvalidInfo");
  refuse(with_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}") +
             std::string(4, '\0'),
         "MetadataIncompleteBuffer");
  refuse(with_header("{\"a\":{\"dtype\":\"C64\",\"shape\":[1],\"data_offsets\":[0,8]}}") +
             std::string(8, '\0'),
         "unsupported dtype");
  refuse(with_header("{\"a\": [1, 2"), "not valid UTF-8 JSON");
  refuse(
      with_header(
          "{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,8],\"data_offsets\":[0,8]}}"),
      "ValidationOverflow");
  // Empty, so no bytes, but its strides would overflow (found by tests/fuzz/fuzz_npy).
  refuse(with_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[0,4294967296,4294967296],"
                     "\"data_offsets\":[0,0]}}"),
         "ValidationOverflow");
}

TEST(Checkpoint, RoundTripAndCorruptionDetected) {
  io::Checkpoint ck;
  ck.epoch = 4;
  ck.global_step = 120;
  ck.step_in_epoch = 7;
  ck.epoch_loss_sum = 0.1 + 0.2;  // a mid-epoch save's partial training loss, exactly
  ck.epoch_loss_count = 112;
  ck.model.insert("0.weight", arange(6, TensorOptions(DType::Float32)).reshape({2, 3}));
  ck.model.insert("1.num_batches_tracked", scalar_tensor(5, TensorOptions(DType::Int64)));
  ck.optimizer = Value::dict();
  ck.optimizer.set("state", Value::dict());
  ck.optimizer.at("state").set(Value(int64_t(0)), Value::dict());
  ck.optimizer.at("state").at(Value(int64_t(0))).set("momentum_buffer", Value(ones({2, 3})));
  ck.scheduler = Value();
  ck.best_metric = 0.9;
  ck.has_best_metric = true;
  ck.monitor = "accuracy";
  ck.config_yaml = "seed: 0\n";
  ck.world_size = 2;
  const std::string path = temp_path("ck.safetensors");
  io::save_checkpoint(ck, path);
  EXPECT_TRUE(io::is_tandem_checkpoint(path));
  io::Checkpoint back = io::load_checkpoint(path);
  EXPECT_EQ(back.epoch, 4);
  EXPECT_EQ(back.step_in_epoch, 7);
  EXPECT_EQ(back.epoch_loss_sum, 0.1 + 0.2);
  EXPECT_EQ(back.epoch_loss_count, 112);
  EXPECT_EQ(back.model.keys(), ck.model.keys());
  EXPECT_TRUE(
      equal(back.optimizer.at("state").at(Value(int64_t(0))).at("momentum_buffer").to_tensor(),
            ones({2, 3})));
  EXPECT_EQ(back.world_size, 2);
  EXPECT_TRUE(back.has_run_position);
  EXPECT_EQ(back.mode, "");  // not set: not written, and read back as unknown
  EXPECT_EQ(back.steps_per_epoch, 0);
  ck.mode = "min";
  ck.steps_per_epoch = 13;
  io::save_checkpoint(ck, path);
  back = io::load_checkpoint(path);
  EXPECT_EQ(back.mode, "min");
  EXPECT_EQ(back.steps_per_epoch, 13);
  // A .pt export records no step counters or world size, and says so.
  io::save_checkpoint(ck, temp_path("ck_export.pt"));
  EXPECT_FALSE(io::load_checkpoint(temp_path("ck_export.pt")).has_run_position);
  // Flip one data byte: the CRC catches it and the error names the file.
  std::string bytes = read_file(path);
  bytes[bytes.size() - 3] ^= 0x5a;
  write_file(path + ".bad", bytes);
  EXPECT_NE(error_of([&] { io::load_checkpoint(path + ".bad"); }).find("checksum mismatch"),
            std::string::npos);
  write_file(path + ".short", bytes.substr(0, bytes.size() / 2));
  EXPECT_NE(error_of([&] { io::load_checkpoint(path + ".short"); }).find(path + ".short"),
            std::string::npos);
}

TEST(Checkpoint, CrashBeforeRenameLeavesThePreviousFile) {
  const std::string path = temp_path("atomic.txt");
  io::atomic_write_file(path, "old");
  EXPECT_THROW(io::atomic_write(path,
                                [](int fd) {
                                  io::write_all(fd, "half", 4, "x");
                                  throw Error("simulated crash");
                                }),
               Error);
  EXPECT_EQ(read_file(path), "old");
  for (const auto& e : fs::directory_iterator(fs::path(path).parent_path()))
    EXPECT_EQ(e.path().filename().string().find(".tmp."), std::string::npos)
        << "temporary left behind";
}

TEST(TorchFiles, PyTorchStateDictsLoadWithExactValues) {
  auto sd = io::find_state_dict(io::load(fixture("plain.pt")), "plain.pt");
  const auto& want = expected()["plain"];
  ASSERT_EQ(sd.size(), want.size());
  for (const auto& [k, e] : want.items()) expect_tensor(sd.at(k), e, k);
  EXPECT_EQ(sd.keys().front(), "0.weight");
  // DDP-style and twice-DataParallel keys reconcile to the plain model's, and back.
  for (const char* f : {"ddp.pt", "dp_twice.pt"}) {
    auto wrapped = io::find_state_dict(io::load(fixture(f)), f);
    EXPECT_EQ(wrapped.keys().front().rfind("module.", 0), 0u);
    auto plain = io::reconcile_prefixes(wrapped, sd.keys());
    EXPECT_EQ(plain.keys(), sd.keys()) << f;
    auto rewrapped = io::reconcile_prefixes(sd, wrapped.keys());
    EXPECT_EQ(rewrapped.keys(), wrapped.keys()) << f;
  }
}

TEST(TorchFiles, SeedCheckpointDictDtypesAndSharedStorage) {
  Value ck = io::load(fixture("seed_checkpoint.pt"));
  EXPECT_EQ(ck.at("epoch").to_int(), 7);
  EXPECT_EQ(ck.at("best_iou").to_double(), 0.625);
  EXPECT_TRUE(ck.at("is_best").to_bool());
  auto sd = io::find_state_dict(ck, "seed_checkpoint.pt");
  EXPECT_EQ(sd.size(), expected()["plain"].size());
  const Value& opt = ck.at("optimizer");
  EXPECT_EQ(opt.at("param_groups").items()[0].at("momentum").to_double(), 0.9);
  EXPECT_EQ(opt.at("state").at(Value(int64_t(0))).at("momentum_buffer").to_tensor().to_vector(),
            expected()["checkpoint_momentum_0"].get<std::vector<double>>());
  EXPECT_EQ(ck.at("scheduler").at("last_epoch").to_int(), 2);

  Value d = io::load(fixture("dtypes_views.pt"));
  for (const auto& [k, e] : expected()["dtypes_views"].items())
    expect_tensor(d.at(k).to_tensor(), e, k);
  const Tensor& base = d.at("base").to_tensor();
  EXPECT_EQ(d.at("view_row").to_tensor().storage().get(), base.storage().get());  // still shared
  EXPECT_EQ(d.at("view_t").to_tensor().storage().get(), base.storage().get());
  EXPECT_EQ(io::load(fixture("list.pt")).size(), 2u);
}

TEST(TorchFiles, TandemWrittenFilesReadBackAndLoadInPyTorch) {
  Value sd = Value::dict();
  sd.set("fc.weight", Value(arange(6, TensorOptions(DType::Float32)).reshape({2, 3})));
  sd.set("fc.bias", Value(tensor({0.5, -1})));
  sd.set("bn.num_batches_tracked", Value(scalar_tensor(3, TensorOptions(DType::Int64))));
  Value ck = Value::dict();
  ck.set("epoch", Value(int64_t(5)));
  ck.set("state_dict", sd);
  ck.set("best_metric", Value(0.875));
  ck.set("is_best", Value(false));
  ck.set("betas", Value::tuple({Value(0.9), Value(0.999)}));
  ck.set("big", Value(int64_t(1) << 40));
  const std::string path = temp_path("tandem_ck.pt");
  io::save_torch(ck, path);
  Value back = io::load_torch(path);
  EXPECT_EQ(back.at("epoch").to_int(), 5);
  EXPECT_EQ(back.at("big").to_int(), int64_t(1) << 40);
  EXPECT_TRUE(equal(back.at("state_dict").at("fc.weight").to_tensor(),
                    arange(6, TensorOptions(DType::Float32)).reshape({2, 3})));
  // Python runs with an argument vector (no shell) and gets the paths as sys.argv.
  auto python = [](const std::string& code, const std::string& arg) {
    return launch::run_program({"/usr/bin/python3", "-c", code, arg}, "").exit_code;
  };
  if (python("import torch", "") != 0)
    GTEST_SKIP() << "PyTorch (python3-torch) is not installed: skipping the "
                    "torch.load(weights_only=True) check";
  // The checkpoint dict holds Python floats, which torch 1.13's weights_only unpickler cannot
  // read at all (it lacks BINFLOAT, for PyTorch's own files too; 2.x reads them), so the dict is
  // loaded with the default loader and the bare state_dict with weights_only=True.
  const std::string sd_path = temp_path("tandem_sd.pt");
  io::save_torch(sd, sd_path);
  EXPECT_EQ(python("import sys, torch; sd = torch.load(sys.argv[1], weights_only=True); "
                   "assert list(sd) == ['fc.weight', 'fc.bias', 'bn.num_batches_tracked']; "
                   "assert sd['fc.weight'].tolist() == [[0, 1, 2], [3, 4, 5]]",
                   sd_path),
            0);
  EXPECT_EQ(python("import sys, torch; c = torch.load(sys.argv[1]); sd = c['state_dict']; "
                   "assert c['epoch'] == 5 and c['best_metric'] == 0.875 and "
                   "c['is_best'] is False and c['big'] == 2**40; "
                   "assert sd['fc.weight'].tolist() == [[0, 1, 2], [3, 4, 5]] and "
                   "sd['fc.bias'].tolist() == [0.5, -1.0]; "
                   "assert sd['bn.num_batches_tracked'].dtype == torch.int64 and "
                   "sd['bn.num_batches_tracked'].item() == 3; "
                   "assert tuple(c['betas']) == (0.9, 0.999)",
                   path),
            0);
}

TEST(TorchFiles, HostileFilesAreRefusedAndNothingRuns) {
  const std::string marker = "/tmp/tandem_pwned";
  fs::remove(marker);
  const std::pair<const char*, const char*> cases[] = {
      {"evil_reduce.pt", "calling os.system (REDUCE) is not allowed"},
      {"evil_stack_global.pt", "the pickle's result is the global os.system, not data"},
      {"evil_inst.pt", "Unsupported operand"},
      {"unknown_opcode.pt", "Unsupported operand 0xff"},
      {"absurd_length.pt", "runs past the end"},
      {"builtins_eval.pt", "calling builtins.eval (REDUCE) is not allowed"},
      {"truncated.pt", "truncated.pt"},
  };
  for (const auto& [file, expect] : cases) {
    const std::string path = fixture(file);  // (clang 14 cannot capture a structured binding)
    const std::string e = error_of([&] { io::load_torch(path); });
    EXPECT_NE(e.find(expect), std::string::npos) << file << ": " << e;
  }
  EXPECT_FALSE(fs::exists(marker));
  // A record that declares more bytes than the file has.
  std::string bytes = read_file(fixture("plain.pt"));
  const size_t cd = bytes.find(std::string("PK\x01\x02", 4));  // the first record: data.pkl
  ASSERT_NE(cd, std::string::npos);
  for (int i = 0; i < 4; ++i)
    bytes[cd + 24 + size_t(i)] = char(0x7f);  // uncompressed size of the last record
  const std::string huge = temp_path("huge.pt");
  write_file(huge, bytes);
  EXPECT_NE(error_of([&] { io::load_torch(huge); }), "");
  const std::string legacy = temp_path("legacy.pt");
  write_file(legacy, std::string("\x80\x02\x8a\x0a", 4) + "legacy");
  EXPECT_NE(error_of([&] { io::load_torch(legacy); }).find("not supported"), std::string::npos);
}

// ---- on a device ------------------------------------------------------------------------------

namespace {

using tandem::testing::matches_cpu;

// Writing device tensors needs only the device's copies; training the model to save needs all
// its kernels.
class IoOnDevice : public tandem::testing::DeviceTest {};
class CheckpointOnDevice : public tandem::testing::StackDeviceTest {};

// A file's bytes, written into a fresh directory under a fixed name (the .pt writer puts the
// file's stem into its records).
std::string bytes_of(const std::string& dir, const std::string& name,
                     const std::function<void(const std::string&)>& write) {
  const std::string d = temp_path(dir);
  fs::create_directories(d);
  write(d + "/" + name);
  return read_file(d + "/" + name);
}

// A small BatchNorm CNN and its Adam optimizer after two steps on `device`.
struct Trained {
  std::shared_ptr<nn::Sequential> model;
  std::unique_ptr<optim::Adam> opt;
};
Trained trained_on(Device device) {
  Generator g(1);
  nn::models::SimpleCNNOptions o;
  o.image_size = 8;
  Trained t{nn::models::simple_cnn(o, g), nullptr};
  t.model->to(device);
  t.opt = std::make_unique<optim::Adam>(t.model->parameters(), optim::AdamOptions{.lr = 0.01});
  Generator data(2);
  for (int s = 0; s < 2; ++s) {
    const Tensor x = randn({4, 1, 8, 8}, data).to(device);
    const Tensor y = from_vector(std::vector<int64_t>{1, 2, 3, int64_t(s)}, {4}).to(device);
    t.opt->zero_grad();
    cross_entropy((*t.model)(x), y).backward();
    t.opt->step();
  }
  return t;
}

// A Value tree with every tensor copied to the CPU (what a user would save instead).
Value cpu_copy(const Value& v) {
  return tandem::testing::map_tensors(
      v, [](const Tensor& t, const std::string&) { return t.cpu().clone(); });
}

}  // namespace

// Weights a multi-card PyTorch run saved (DataParallel/DDP "module." keys, storages tagged
// "cuda:1", tests/fixtures/make_io.py) load into one model on one device: the location tag is
// read as map_location=cpu would, the prefix is reconciled, the values land on the model's device.
TEST_P(IoOnDevice, MultiCardPyTorchWeightsLoadOnOneDevice) {
  auto model = make_io_net();
  model->to(device());
  launch::load_weights(*model, fixture("ddp_cuda1.pt"), /*strict=*/true, /*report=*/nullptr);
  const auto sd = model->state_dict();
  const auto& want = expected()["plain"];
  ASSERT_EQ(sd.size(), want.size());
  for (const auto& [k, e] : want.items()) {
    const Tensor& t = sd.at(k);
    EXPECT_EQ(t.device(), device()) << k;
    EXPECT_EQ(t.sizes(), e["shape"].get<Shape>()) << k;
    // The fixture was regenerated on another BLAS than expected.json: running statistics may
    // differ in the last bits.
    const std::vector<double> got = t.to(DType::Float32).to_vector();
    const std::vector<double> ref = e["values"].get<std::vector<double>>();
    for (size_t i = 0; i < ref.size(); ++i)
      EXPECT_NEAR(got[i], ref[i], 1e-6 * (1 + std::abs(ref[i]))) << k << "[" << i << "]";
  }
}

// What init_from and eval do with the files PyTorch opens only with weights_only=False: a
// pickled whole model (plain and DataParallel) and a traced TorchScript archive load into a model
// on the device, with the values of the state_dict PyTorch saved next to each, and the prefix
// change reported in one line.
TEST_P(IoOnDevice, WholeModelsAndScriptArchivesLoadIntoAModelOnTheDevice) {
  const std::pair<const char*, const char*> files[] = {
      {"whole_sequential.pt", "whole_sequential_sd.pt"},
      {"whole_dataparallel.pt", "whole_sequential_sd.pt"},
      {"ts_traced.pt", "ts_traced_sd.pt"}};
  for (const auto& [file, twin] : files) {
    auto model = make_io_net();
    model->to(device());
    const std::string report = temp_path("report.txt");
    std::FILE* f = std::fopen(report.c_str(), "w");
    ASSERT_NE(f, nullptr);
    launch::load_weights(*model, fixture(file), /*strict=*/true, f);
    std::fclose(f);
    const std::string said = read_file(report);
    if (std::string(file) == "whole_dataparallel.pt")
      EXPECT_NE(said.find("stripped 'module.' (DistributedDataParallel) from every key"),
                std::string::npos)
          << said;
    else
      EXPECT_EQ(said, "") << file;
    const io::StateDict want = io::load_state_dict(fixture(twin));
    for (const auto& [k, t] : model->state_dict()) {
      EXPECT_EQ(t.device(), device()) << file << " " << k;
      EXPECT_TRUE(equal(t.cpu(), want.at(k))) << file << " " << k;
    }
  }
}

// safetensors of device tensors (every dtype, a 0-dim, an empty and a non-contiguous one) has
// the bytes of the CPU tensors' file, and reads back to the same values.
TEST_P(IoOnDevice, SafetensorsOfDeviceTensorsHasTheCpuBytes) {
  io::TensorMap cpu = sample(), dev;
  const Tensor base = arange(12, TensorOptions(DType::Float32)).reshape({3, 4});
  cpu.insert("t", base.t());
  for (const auto& [k, t] : cpu) dev.insert(k, k == "t" ? base.to(device()).t() : t.to(device()));
  ASSERT_FALSE(dev.at("t").is_contiguous());
  EXPECT_TRUE(io::serialize_safetensors(dev, {{"epoch", "3"}}) ==
              io::serialize_safetensors(cpu, {{"epoch", "3"}}));
  const std::string a = bytes_of("st_dev", "x.safetensors",
                                 [&](const std::string& p) { io::save_safetensors(p, dev); });
  const std::string b = bytes_of("st_cpu", "x.safetensors",
                                 [&](const std::string& p) { io::save_safetensors(p, cpu); });
  EXPECT_TRUE(a == b);
  for (const auto& [k, t] : io::load_safetensors(temp_path("st_dev") + "/x.safetensors"))
    EXPECT_TRUE(matches_cpu(t, cpu.at(k), kCPU, k));
}

// torch .pt of device tensors has the bytes of the CPU tensors' file, storages shared between
// entries included: a tied weight (one tensor under two keys) and a view of another entry each
// stay one storage record, as they are from the CPU.
TEST_P(IoOnDevice, TorchFileOfDeviceTensorsHasTheCpuBytes) {
  auto build = [](Device d) {
    Tensor base = arange(12, TensorOptions(DType::Float32)).reshape({3, 4}).to(d);
    Value sd = Value::dict();
    sd.set("fc.weight", Value(base));
    sd.set("tied.weight", Value(base));          // the same tensor under two keys
    sd.set("row", Value(base.narrow(0, 1, 1)));  // a view into it
    sd.set("fc.bias", Value(tensor({0.5, -1}).to(d)));
    sd.set("bn.num_batches_tracked", Value(scalar_tensor(3, TensorOptions(DType::Int64)).to(d)));
    sd.set("half", Value(tensor({1.5, -2}).to(DType::Float16).to(d)));
    Value ck = Value::dict();
    ck.set("epoch", Value(int64_t(5)));
    ck.set("state_dict", sd);
    ck.set("betas", Value::tuple({Value(0.9), Value(0.999)}));
    return ck;
  };
  const std::string a = bytes_of("pt_dev", "ck.pt",
                                 [&](const std::string& p) { io::save_torch(build(device()), p); });
  const std::string b =
      bytes_of("pt_cpu", "ck.pt", [&](const std::string& p) { io::save_torch(build(kCPU), p); });
  EXPECT_EQ(a.size(), b.size());
  EXPECT_TRUE(a == b) << "the .pt written from " << device().str()
                      << " tensors differs from the CPU's";
  Value back = io::load_torch(temp_path("pt_dev") + "/ck.pt");
  const Value& sd = back.at("state_dict");
  EXPECT_EQ(sd.at("tied.weight").to_tensor().storage().get(),
            sd.at("fc.weight").to_tensor().storage().get());
  EXPECT_EQ(sd.at("row").to_tensor().storage().get(),
            sd.at("fc.weight").to_tensor().storage().get());
  EXPECT_TRUE(equal(sd.at("row").to_tensor(), tensor({4, 5, 6, 7}).reshape({1, 4})));
}

// A checkpoint of a run on the device (model state, Adam state with its CPU 'step') has the
// bytes of the checkpoint of the same state copied to the CPU.
TEST_P(CheckpointOnDevice, CheckpointOfADeviceRunHasTheCpuCopysBytes) {
  Trained t = trained_on(device());
  auto make = [&](bool to_cpu) {
    io::Checkpoint ck;
    ck.epoch = 1;
    ck.global_step = 2;
    for (const auto& [k, v] : t.model->state_dict())
      ck.model.insert(k, to_cpu ? v.cpu().clone() : v);
    ck.optimizer = to_cpu ? cpu_copy(t.opt->state_dict()) : t.opt->state_dict();
    ck.config_yaml = "seed: 0\n";
    return ck;
  };
  const std::string a = bytes_of("ck_dev", "last.safetensors", [&](const std::string& p) {
    io::save_checkpoint(make(false), p);
  });
  const std::string b = bytes_of("ck_cpu", "last.safetensors",
                                 [&](const std::string& p) { io::save_checkpoint(make(true), p); });
  EXPECT_TRUE(a == b) << "the checkpoint written from " << device().str()
                      << " tensors differs from the CPU copy's";
}

// Files load onto the device: a state_dict as safetensors, as .pt and inside a checkpoint, into a
// model on the device (launch::load_weights, as init_from does); the checkpoint's optimizer state
// into an optimizer over the device parameters, which then steps as the CPU run does.
TEST_P(CheckpointOnDevice, FilesLoadIntoAModelAndOptimizerOnTheDevice) {
  Trained src = trained_on(kCPU);
  const nn::StateDict sd = src.model->state_dict();
  io::TensorMap as_map;
  Value as_value = Value::dict();
  for (const auto& [k, v] : sd) as_map.insert(k, v), as_value.set(k, Value(v));
  const std::string st = temp_path("w.safetensors"), pt = temp_path("w.pt"),
                    ckp = temp_path("w_ck.safetensors");
  io::save_safetensors(st, as_map);
  io::save_torch(as_value, pt);
  io::Checkpoint ck;
  ck.model = as_map;
  ck.optimizer = src.opt->state_dict();
  ck.config_yaml = "seed: 0\n";
  io::save_checkpoint(ck, ckp);
  for (const std::string& path : {st, pt, ckp}) {
    Trained dst = trained_on(device());  // different weights and state than src
    dst.model->zero_grad();
    launch::load_weights(*dst.model, path, /*strict=*/true, /*report=*/nullptr);
    for (const auto& [k, v] : dst.model->state_dict()) {
      EXPECT_EQ(v.device(), device()) << path << " " << k;
      EXPECT_TRUE(equal(v.cpu(), sd.at(k))) << path << " " << k;
    }
  }
  // Resume: model and optimizer from the checkpoint file, one more step on the device.
  Trained dst = trained_on(device());
  io::Checkpoint back = io::load_checkpoint(ckp);
  dst.model->load_state_dict(back.model);
  dst.opt->load_state_dict(back.optimizer);
  const Value loaded_state = dst.opt->state_dict();  // a named copy: the loop reads into it
  for (const auto& [idx, st_v] : loaded_state.at("state").dict_items())
    for (const auto& [name, v] : st_v.dict_items()) {
      if (!v.is_tensor()) continue;
      EXPECT_EQ(v.to_tensor().device(), name.to_string() == "step" ? kCPU : device())
          << name.to_string();
    }
  Generator data(9);
  const Tensor x = randn({4, 1, 8, 8}, data);
  const Tensor y = from_vector(std::vector<int64_t>{0, 1, 2, 3}, {4});
  for (Trained* t : {&src, &dst}) {
    const Device d = t->model->parameters()[0].device();
    t->opt->zero_grad();
    cross_entropy((*t->model)(x.to(d)), y.to(d)).backward();
    t->opt->step();
  }
  EXPECT_TRUE(tandem::testing::all_match_cpu(dst.model->state_dict(), src.model->state_dict(),
                                             device(), "after a resumed step"));
}

TANDEM_INSTANTIATE_DEVICE_TEST(IoOnDevice);
TANDEM_INSTANTIATE_DEVICE_TEST(CheckpointOnDevice);

// --- the C++ conveniences a PyTorch user reaches for ------------------------------------------

namespace {

// A small model trained one SGD step with momentum, so its optimizer has state.
struct Stepped {
  std::shared_ptr<nn::Sequential> net;
  std::unique_ptr<optim::SGD> opt;
};
Stepped stepped(uint64_t seed) {
  Generator gen(seed);
  Stepped s{nn::models::mlp({.in_features = 4, .hidden = {3}, .num_classes = 2}, gen), nullptr};
  s.opt = std::make_unique<optim::SGD>(s.net->parameters(),
                                       optim::SgdOptions{.lr = 0.1, .momentum = 0.9});
  s.opt->zero_grad();
  cross_entropy((*s.net)(randn({5, 4}, gen)), from_vector(std::vector<int64_t>{0, 1, 1, 0, 1}, {5}))
      .backward();
  s.opt->step();
  return s;
}

void expect_same_state(const nn::StateDict& got, const nn::StateDict& want,
                       const std::string& what) {
  ASSERT_EQ(got.keys(), want.keys()) << what;
  for (const auto& [k, t] : want) EXPECT_TRUE(equal(got.at(k), t)) << what << " " << k;
}

}  // namespace

TEST(Conveniences, SaveAStateDictAsPyTorchDoes) {
  Stepped a = stepped(1), b = stepped(2);
  for (const char* ext : {".pt", ".safetensors"}) {
    const std::string path = temp_path(std::string("net") + ext);
    io::save(a.net->state_dict(), path);  // torch.save(model.state_dict(), path)
    b.net->load_state_dict(io::load_state_dict(path));
    expect_same_state(b.net->state_dict(), a.net->state_dict(), path);
  }
  // A PyTorch-style checkpoint dict, written and read back as torch.save/torch.load do.
  Value ck = Value::dict();
  ck.set("epoch", 3);
  ck.set("model_state_dict", a.net->state_dict());
  ck.set("optimizer_state_dict", a.opt->state_dict());
  const std::string path = temp_path("dict_ckpt.pt");
  io::save(ck, path);
  Value back = io::load(path);
  EXPECT_EQ(back.at("epoch").to_int(), 3);
  Stepped c = stepped(3);
  c.net->load_state_dict(back.at("model_state_dict"));  // model.load_state_dict(ck['...'])
  c.opt->load_state_dict(back.at("optimizer_state_dict"));
  expect_same_state(c.net->state_dict(), a.net->state_dict(), "checkpoint dict");
  EXPECT_EQ(c.opt->state_dict().repr(), a.opt->state_dict().repr());
  EXPECT_TRUE(tandem::testing::throws_with([&] { c.net->load_state_dict(back); },
                                           "not a state_dict: the entry 'epoch' is a int"));
}

TEST(Conveniences, SaveAnOptimizerStateDictToSafetensorsAndPt) {
  Stepped a = stepped(1);
  const Value sd = a.opt->state_dict();
  for (const char* ext : {".pt", ".safetensors"}) {
    const std::string path = temp_path(std::string("opt") + ext);
    io::save(sd, path);
    const Value back = io::load(path);
    EXPECT_EQ(back.repr(), sd.repr()) << path;  // same structure, kinds and tensor shapes
    const Value& buf = back.at("state").at(Value(int64_t(0))).at("momentum_buffer");
    EXPECT_TRUE(equal(buf.to_tensor(),
                      sd.at("state").at(Value(int64_t(0))).at("momentum_buffer").to_tensor()));
    Stepped b = stepped(2);
    b.opt->load_state_dict(back);
    EXPECT_EQ(b.opt->state_dict().repr(), sd.repr()) << path;
  }
  // In safetensors the tensors are ordinary entries named by their path.
  const io::TensorMap tensors = io::load_safetensors(temp_path("opt.safetensors"));
  EXPECT_TRUE(tensors.contains("state/0/momentum_buffer"));
}

TEST(Conveniences, LoadStateDictFindsItInEveryFileKind) {
  const std::vector<std::string> keys =
      io::find_state_dict(io::load(fixture("plain.pt")), "plain.pt").keys();
  EXPECT_EQ(io::load_state_dict(fixture("plain.pt")).keys(), keys);            // bare
  EXPECT_EQ(io::load_state_dict(fixture("seed_checkpoint.pt")).keys(), keys);  // {'state_dict'}
  io::Checkpoint ck;
  ck.model = io::load_state_dict(fixture("plain.pt"));
  const std::string tandem_ckpt = temp_path("tandem_ckpt.safetensors");
  io::save_checkpoint(ck, tandem_ckpt);
  EXPECT_EQ(io::load_state_dict(tandem_ckpt).keys(), keys);  // a tandem checkpoint's model
  EXPECT_TRUE(tandem::testing::throws_with([] { io::load_state_dict(fixture("list.pt")); },
                                           "no state_dict found"));
}

TEST(Conveniences, CheckpointStructInOneCallAsPtOrSafetensors) {
  Stepped a = stepped(1);
  io::Checkpoint ck;
  ck.epoch = 4;
  ck.model = a.net->state_dict();
  ck.optimizer = a.opt->state_dict();
  ck.best_metric = 0.75;
  ck.has_best_metric = true;
  ck.is_best = true;
  for (const char* ext : {".pt", ".safetensors"}) {
    const std::string path = temp_path(std::string("struct_ckpt") + ext);
    io::save_checkpoint(ck, path);
    const io::Checkpoint back = io::load_checkpoint(path);
    EXPECT_EQ(back.epoch, 4) << path;
    EXPECT_TRUE(back.has_best_metric && back.best_metric == 0.75 && back.is_best) << path;
    expect_same_state(back.model, ck.model, path);
    EXPECT_EQ(back.optimizer.repr(), ck.optimizer.repr()) << path;
    EXPECT_TRUE(back.scheduler.is_none()) << path;
  }
  // The .pt is PyTorch's checkpoint dict, in its order.
  const Value torch_dict = io::load(temp_path("struct_ckpt.pt"));
  std::vector<std::string> top;
  for (const auto& [k, v] : torch_dict.dict_items()) top.push_back(k.to_string());
  EXPECT_EQ(top, (std::vector<std::string>{"epoch", "state_dict", "optimizer", "scheduler",
                                           "best_metric", "is_best"}));
  // A run monitoring IoU also writes best_iou, the key PyTorch segmentation code reads.
  ck.monitor = "iou";
  io::save_checkpoint(ck, temp_path("struct_ckpt_iou.pt"));
  const Value iou_dict = io::load(temp_path("struct_ckpt_iou.pt"));
  ASSERT_NE(iou_dict.find(Value("best_iou")), nullptr);
  EXPECT_EQ(iou_dict.at(Value("best_iou")).to_double(), 0.75);
  EXPECT_EQ(io::load_checkpoint(temp_path("struct_ckpt_iou.pt")).monitor, "iou");
  // Any PyTorch checkpoint dict loads, with the fields it has.
  const io::Checkpoint seed = io::load_checkpoint(fixture("seed_checkpoint.pt"));
  EXPECT_EQ(seed.epoch, 7);
  EXPECT_TRUE(seed.is_best);
  // It says best_iou, as segmentation tutorials' dicts do: the best metric, monitoring IoU.
  EXPECT_TRUE(seed.has_best_metric);
  EXPECT_EQ(seed.best_metric, 0.625);
  EXPECT_EQ(seed.monitor, "iou");
  EXPECT_EQ(seed.scheduler.at("last_epoch").to_int(), 2);
  EXPECT_EQ(seed.model.size(), expected()["plain"].size());
}

// An fp16 run's loss scaler: in the tandem checkpoint and, as GradScaler.state_dict(), under
// 'scaler' in the .pt dict (after 'scheduler'), and back; PyTorch reads it where installed.
TEST(Conveniences, LossScalerStateRoundTripsInBothFormats) {
  optim::GradScalerOptions o;
  o.init_scale = 1024;
  o.growth_interval = 3;
  optim::GradScaler scaler(o);
  scaler.update(512);
  io::Checkpoint ck;
  ck.epoch = 1;
  ck.model.insert("fc.weight", ones({2, 2}));
  ck.scaler = scaler.state_dict();
  for (const char* ext : {".pt", ".safetensors"}) {
    const std::string path = temp_path(std::string("scaler_ckpt") + ext);
    io::save_checkpoint(ck, path);
    const io::Checkpoint back = io::load_checkpoint(path);
    EXPECT_EQ(back.scaler.repr(), ck.scaler.repr()) << path;
    optim::GradScaler restored;
    restored.load_state_dict(back.scaler);
    EXPECT_EQ(restored.get_scale(), 512.0) << path;
  }
  const Value torch_dict = io::load(temp_path("scaler_ckpt.pt"));
  std::vector<std::string> top;
  for (const auto& [k, v] : torch_dict.dict_items()) top.push_back(k.to_string());
  EXPECT_EQ(top, (std::vector<std::string>{"epoch", "state_dict", "optimizer", "scheduler",
                                           "scaler", "best_metric", "is_best"}));
  // Without a scaler (fp32, bf16) there is no key, as a PyTorch loop without GradScaler saves.
  ck.scaler = Value();
  io::save_checkpoint(ck, temp_path("no_scaler.pt"));
  EXPECT_EQ(io::load(temp_path("no_scaler.pt")).find(Value("scaler")), nullptr);
  EXPECT_TRUE(io::load_checkpoint(temp_path("no_scaler.pt")).scaler.is_none());
  // A hostile value is refused naming the field.
  Value bad = torch_dict;
  bad.set("scaler", Value(int64_t(3)));
  io::save_torch(bad, temp_path("bad_scaler.pt"));
  try {
    io::load_checkpoint(temp_path("bad_scaler.pt"));
    FAIL() << "a scaler that is not a state_dict loaded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'scaler'"), std::string::npos) << e.what();
  }
  auto python = [](const std::string& code, const std::string& arg) {
    return launch::run_program({"/usr/bin/python3", "-c", code, arg}, "").exit_code;
  };
  if (python("import torch", "") != 0)
    GTEST_SKIP() << "PyTorch (python3-torch) is not installed: skipping torch.load";
  // GradScaler.state_dict()'s keys and values.
  EXPECT_EQ(python("import sys, torch; s = torch.load(sys.argv[1])['scaler']; "
                   "assert sorted(s) == sorted(['scale', 'growth_factor', 'backoff_factor', "
                   "'growth_interval', '_growth_tracker']), s; "
                   "assert s['scale'] == 512.0 and s['growth_interval'] == 3, s",
                   temp_path("scaler_ckpt.pt")),
            0);
}

TEST(Conveniences, AccessorsOfTemporariesDoNotDangle) {
  Stepped a = stepped(1);
  // Each of these would read freed memory if the accessor returned a reference into the
  // temporary (the sanitizer build runs this suite).
  size_t entries = 0;
  for (const auto& [key, value] : a.opt->state_dict().dict_items()) entries += key.is_string();
  EXPECT_EQ(entries, 2u);  // state, param_groups
  size_t groups = 0;
  for (const auto& g : a.opt->state_dict().at("param_groups").items()) groups += g.is_dict();
  EXPECT_EQ(groups, 1u);
  // One accessor deep, a reference kept from a temporary stays valid: it holds a copy.
  const Value& groups_value = a.opt->state_dict().at("param_groups");
  EXPECT_EQ(groups_value.items()[0].at("lr").to_double(), 0.1);
  const Tensor& w = a.net->state_dict().at("1.weight");
  EXPECT_EQ(w.sizes(), (Shape{3, 4}));
  const std::string& kind = Value(std::string("state")).to_string();
  EXPECT_EQ(kind, "state");
  size_t keys = 0;
  for (const auto& [k, t] : a.net->state_dict()) keys += t.defined();
  EXPECT_EQ(keys, 4u);
}

TEST(Conveniences, ModulesPrintAsPyTorch) {
  auto net = nn::models::mlp({.in_features = 4, .hidden = {3}, .num_classes = 2});
  std::ostringstream os;
  os << *net;
  EXPECT_EQ(os.str(), net->repr());
  EXPECT_EQ(os.str().substr(0, 11), "Sequential(");
}

TEST(TorchFiles, TorchCompilePrefixesReconcileAloneAndWithModule) {
  const io::StateDict plain = io::load_state_dict(fixture("plain.pt"));
  const std::vector<std::pair<std::string, std::string>> files = {
      {"compiled.pt", "stripped '_orig_mod.' (torch.compile) from every key"},
      {"ddp_of_compiled.pt",
       "stripped 'module._orig_mod.' (DistributedDataParallel, torch.compile) from every key"},
      {"compiled_ddp.pt",
       "stripped '_orig_mod.module.' (torch.compile, DistributedDataParallel) from every key"}};
  for (const auto& [file, said] : files) {
    const io::StateDict wrapped = io::load_state_dict(fixture(file));
    io::PrefixChange change;
    EXPECT_EQ(io::reconcile_prefixes(wrapped, plain.keys(), &change).keys(), plain.keys()) << file;
    EXPECT_EQ(change.describe(), said) << file;
    // And the reverse: plain weights into a compiled (and wrapped) model.
    EXPECT_EQ(io::reconcile_prefixes(plain, wrapped.keys(), &change).keys(), wrapped.keys());
    EXPECT_EQ(change.stripped, "") << file;
  }
  // One wrapper order into the other: what differs is replaced, what they share stays.
  const io::StateDict ddp_compiled = io::load_state_dict(fixture("ddp_of_compiled.pt"));
  io::PrefixChange change;
  const io::StateDict swapped = io::reconcile_prefixes(
      ddp_compiled, io::load_state_dict(fixture("compiled_ddp.pt")).keys(), &change);
  EXPECT_EQ(swapped.keys().front(), "_orig_mod.module.0.weight");
  EXPECT_EQ(change.describe(),
            "stripped 'module._orig_mod.' (DistributedDataParallel, torch.compile) and added "
            "'_orig_mod.module.' (torch.compile, DistributedDataParallel) on every key");
  const io::StateDict twice = io::load_state_dict(fixture("dp_twice.pt"));
  io::reconcile_prefixes(twice, io::load_state_dict(fixture("ddp.pt")).keys(), &change);
  EXPECT_EQ(change.describe(), "stripped 'module.' (DistributedDataParallel) from every key");
  // Module::load_state_dict reconciles them too (make_io.py's model).
  auto net = make_io_net();
  EXPECT_TRUE(net->load_state_dict(io::load_state_dict(fixture("compiled_ddp.pt"))).empty());
  expect_same_state(net->state_dict(), plain, "compiled_ddp.pt into the plain model");
}

// A prefix of the file's own (PyTorch Lightning saves a LightningModule's `self.model` as
// "model.*") is removed, or one the model has is added, when that makes the key sets equal,
// after any wrapper prefixes; nothing short of an exact match is changed.
TEST(TorchFiles, OwnPrefixIsRemovedOrAddedWhenTheKeysThenMatch) {
  const io::StateDict plain = io::load_state_dict(fixture("plain.pt"));
  const io::StateDict lightning = io::add_prefix(plain, "model.");
  const std::vector<std::string> lightning_keys = lightning.keys();
  const std::vector<std::string> ddp_keys = io::add_prefix(plain, "module.").keys();
  struct Case {
    io::StateDict file;
    std::vector<std::string> target;
    const char* said;
  };
  const Case cases[] = {
      {lightning, plain.keys(), "stripped 'model.' from every key"},
      {io::add_prefix(lightning, "module."), plain.keys(),
       "stripped 'module.model.' (DistributedDataParallel) from every key"},
      {plain, lightning_keys, "added 'model.' to every key"},
      {lightning, ddp_keys,
       "stripped 'model.' and added 'module.' (DistributedDataParallel) on every key"},
  };
  for (const Case& c : cases) {
    io::PrefixChange change;
    const io::StateDict fitted = io::reconcile_prefixes(c.file, c.target, &change);
    EXPECT_EQ(fitted.keys(), c.target) << c.said;
    EXPECT_EQ(change.describe(), c.said);
    for (size_t i = 0; i < c.target.size(); ++i)  // the same tensors, in plain's order
      EXPECT_EQ(fitted.at(c.target[i]).storage(), plain.at(plain.keys()[i]).storage()) << i;
  }
  // One key short of the model's: left for load_state_dict to report, prefix and all.
  io::StateDict partial = lightning;
  partial.erase("model.4.bias");
  io::PrefixChange change;
  EXPECT_EQ(io::reconcile_prefixes(partial, plain.keys(), &change).keys(), partial.keys());
  EXPECT_TRUE(change.empty());
  // Module::load_state_dict takes a Lightning checkpoint's state_dict as it is.
  auto net = make_io_net();
  EXPECT_TRUE(net->load_state_dict(lightning).empty());
  expect_same_state(net->state_dict(), plain, "a Lightning state_dict into the plain model");
}

// ---- damaged records, names, pickle protocols, scheduler exports -----------------------------

// A flipped byte in a stored tensor record is caught by the record's CRC (libzip checks it once
// a read reaches the record's end), with the file and the record named, not loaded as wrong values.
TEST(TorchFiles, DamagedRecordFailsItsCrcCheck) {
  std::string bytes = read_file(fixture("plain.pt"));
  const std::string record = "plain/data/0";
  const size_t name_at = bytes.find(record);  // the local header's name comes first
  ASSERT_NE(name_at, std::string::npos);
  const size_t header = name_at - 30;
  ASSERT_EQ(bytes.compare(header, 4, std::string("PK\x03\x04", 4)), 0);
  auto u16 = [&](size_t at) {
    return size_t(uint8_t(bytes[at])) | size_t(uint8_t(bytes[at + 1])) << 8;
  };
  const size_t data = header + 30 + u16(header + 26) + u16(header + 28);
  bytes[data + 1] = char(bytes[data + 1] ^ 0x40);
  const std::string path = temp_path("crc_bad.pt");
  write_file(path, bytes);
  const std::string e = error_of([&] { io::load_torch(path); });
  EXPECT_NE(e.find(path), std::string::npos) << e;
  EXPECT_NE(e.find("record '" + record + "'"), std::string::npos) << e;
  EXPECT_NE(e.find("CRC error"), std::string::npos) << e;
  EXPECT_NE(error_of([&] { io::load_state_dict(path); }).find("CRC error"), std::string::npos);
  // The undamaged file still loads.
  EXPECT_EQ(error_of([] { io::load_torch(fixture("plain.pt")); }), "");
}

namespace {

void copy_to(const std::string& from, const std::string& to) {
  fs::copy_file(from, to, fs::copy_options::overwrite_existing);
}

}  // namespace

// torch.load does not look at the name, and neither do tandem's loaders: model_best.pth.tar, a
// file without extension and x.bin load as what they hold. Only writing goes by the extension.
TEST(TorchFiles, FormatIsToldByContentNotName) {
  const auto plain_keys = io::load_state_dict(fixture("plain.pt")).keys();
  for (const char* name : {"model_best.pth.tar", "checkpoint_noext", "x.bin"}) {
    const std::string path = temp_path(name);
    copy_to(fixture("seed_checkpoint.pt"), path);
    EXPECT_EQ(io::detect_format(path), io::FileFormat::TorchZip) << name;
    EXPECT_EQ(io::load_checkpoint(path).epoch, 7) << name;
    EXPECT_EQ(io::load_state_dict(path).keys(), plain_keys) << name;
    EXPECT_EQ(io::load(path).at("epoch").to_int(), 7) << name;
  }
  // A tandem checkpoint (safetensors) under any name, and a .pt name: still the checkpoint.
  Stepped a = stepped(2);
  io::Checkpoint ck;
  ck.epoch = 3;
  ck.global_step = 12;
  ck.model = a.net->state_dict();
  ck.optimizer = a.opt->state_dict();
  io::save_checkpoint(ck, temp_path("detect.safetensors"));
  for (const char* name : {"last_noext", "renamed.pt", "renamed.pth.tar"}) {
    const std::string path = temp_path(name);
    copy_to(temp_path("detect.safetensors"), path);
    EXPECT_EQ(io::detect_format(path), io::FileFormat::Safetensors) << name;
    EXPECT_TRUE(io::is_tandem_checkpoint(path)) << name;
    const io::Checkpoint back = io::load_checkpoint(path);
    EXPECT_EQ(back.global_step, 12) << name;
    expect_same_state(back.model, ck.model, name);
    expect_same_state(io::load_state_dict(path), ck.model, name);
  }
  // Plain safetensors weights named .bin.
  io::save_safetensors(temp_path("weights.bin"), ck.model);
  const io::StateDict bin = io::load_state_dict(temp_path("weights.bin"));  // in name order
  EXPECT_EQ(bin.size(), ck.model.size());
  for (const auto& [k, t] : ck.model) EXPECT_TRUE(bin.contains(k) && equal(bin.at(k), t)) << k;
  // The legacy format (torch 1.13 with _use_new_zipfile_serialization=False) under any name
  // loads by its content, not as an unknown extension.
  for (const char* name : {"legacy.pth.tar", "legacy_noext", "legacy.bin"}) {
    const std::string path = temp_path(name);
    copy_to(fixture("legacy_nonzip.pt"), path);
    EXPECT_EQ(io::detect_format(path), io::FileFormat::LegacyTorch) << name;
    const io::StateDict sd = io::load_state_dict(path);
    EXPECT_EQ(sd.keys(), (std::vector<std::string>{"fc.weight", "fc.bias"})) << name;
    EXPECT_TRUE(equal(sd.at("fc.weight"), arange(6, TensorOptions(DType::Float32)).reshape({2, 3})))
        << name;
    EXPECT_TRUE(equal(sd.at("fc.bias"), tensor({0.5, -1}))) << name;
  }
  // A directory says it is one.
  const std::string dir = temp_path("a_run_dir");
  fs::create_directories(dir);
  EXPECT_THROW(io::detect_format(dir), Error);
  for (const std::string& e :
       {error_of([&] { io::load(dir); }), error_of([&] { io::load_checkpoint(dir); }),
        error_of([&] { io::load_state_dict(dir); }), error_of([&] { io::load_torch(dir); })})
    EXPECT_NE(e.find(dir + " is a directory"), std::string::npos) << e;
  // Writing still goes by the extension.
  EXPECT_NE(error_of([&] {
              io::save(Value(ck.model), temp_path("out.bin"));
            }).find("don't know how to write"),
            std::string::npos);
}

namespace {

// A torch.save container around a hand-made pickle.
std::string with_pickle(const std::string& name, const std::string& pickle) {
  io::ZipWriter z;
  z.add("archive/data.pkl", pickle);
  z.add("archive/version", "3\n");
  const std::string path = temp_path(name);
  write_file(path, z.finish());
  return path;
}

}  // namespace

// torch.save(..., pickle_protocol=4 or 5) (FRAME, MEMOIZE, SHORT_BINUNICODE, STACK_GLOBAL of
// allowed globals) loads as protocol 2 does; sets are refused by name.
TEST(TorchFiles, PickleProtocols4And5Load) {
  for (const char* name : {"proto4.pt", "proto5.pt"}) {
    const Value v = io::load(fixture(name));
    EXPECT_EQ(v.at("epoch").to_int(), 3) << name;
    EXPECT_EQ(v.at("arch").to_string(), "tiny_net") << name;
    EXPECT_EQ(v.at("input_size").repr(), "(1, 8, 8)") << name;
    EXPECT_EQ(v.at("history").repr(), "[1, 2.5, 'x', None, True]") << name;
    const io::StateDict sd = io::load_state_dict(fixture(name));
    EXPECT_EQ(sd.keys(), (std::vector<std::string>{"fc.weight", "fc.bias"})) << name;
    EXPECT_TRUE(equal(sd.at("fc.weight"), arange(6, TensorOptions(DType::Float32)).reshape({2, 3})))
        << name;
    EXPECT_TRUE(equal(sd.at("fc.bias"), tensor({0.5, -1}))) << name;
    EXPECT_EQ(io::load_checkpoint(fixture(name)).epoch, 3) << name;
  }
  // Hand-made protocol-4 pickles in a torch.save container.
  const std::string frame = std::string("\x80\x04\x95\x00\x00\x00\x00\x00\x00\x00\x00", 11);
  // STACK_GLOBAL of an allowed global, memoized and fetched back.
  const std::string od = with_pickle(
      "stack_od.pt", frame + std::string("\x8c\x0b"
                                         "collections\x94\x8c\x0b"
                                         "OrderedDict\x94\x93\x94)R"
                                         "\x94h\x00\x8d\x01\x00\x00\x00\x00\x00\x00\x00vs.",
                                         47));
  EXPECT_EQ(io::load_torch(od).repr(), "{'collections': 'v'}");
  // Sets (EMPTY_SET, ADDITEMS, FROZENSET) read as lists.
  const std::string set = with_pickle("set.pt", frame + "\x8f(K\x01K\x02\x90.");  // {1, 2}
  EXPECT_EQ(io::load_torch(set).repr(), "[1, 2]");
  const std::string frozen = with_pickle("frozenset.pt", frame + "(K\x03\x91.");
  EXPECT_EQ(io::load_torch(frozen).repr(), "[3]");
  // STACK_GLOBAL of anything else is refused as GLOBAL is (evil_stack_global.pt, above).
  // A MARK flood is refused once the stack passes 4 million items (10 MB took 1.9 GB).
  const std::string flood = with_pickle("mark_flood.pt", "\x80\x02" + std::string(4'100'000, '('));
  const std::string f = error_of([&] { io::load_torch(flood); });
  EXPECT_NE(f.find("the pickle stack holds more than 4000000 items"), std::string::npos) << f;
}

// A checkpoint carrying torch.Size (torchvision-style 'input_size') loads: the Size reads as its
// tuple of ints, as torch 1.13's weights_only loader accepts it.
TEST(TorchFiles, TorchSizeReadsAsATupleOfInts) {
  const Value v = io::load(fixture("torch_size.pt"));
  ASSERT_TRUE(v.at("input_size").is_tuple());
  EXPECT_EQ(v.at("input_size").repr(), "(1, 8, 8)");
  const io::Checkpoint ck = io::load_checkpoint(fixture("torch_size.pt"));
  EXPECT_EQ(ck.epoch, 2);
  EXPECT_EQ(ck.model.keys(), (std::vector<std::string>{"fc.weight", "fc.bias"}));
}

// The legacy (non-zip) stream, as torch 1.13 writes it with _use_new_zipfile_serialization=False
// (and every PyTorch before 1.6): dtypes and views sharing one storage, a checkpoint dict in
// pickle protocol 4, and a whole module (its classes as ('module', ...) persistent ids) hold
// exactly what their zip twins hold.
TEST(TorchFiles, LegacyFormatLoadsAsTheZipFormatDoes) {
  const Value dtypes = io::load(fixture("legacy_dtypes.pt"));
  const auto& want = expected()["dtypes_views"];
  ASSERT_EQ(dtypes.size(), want.size());
  for (const auto& [k, e] : want.items()) expect_tensor(dtypes.at(k).to_tensor(), e, k);
  const Tensor base = dtypes.at("base").to_tensor();
  for (const char* view : {"view_row", "view_t"})
    EXPECT_EQ(dtypes.at(view).to_tensor().storage(), base.storage()) << view;
  EXPECT_EQ(dtypes.at("view_row").to_tensor().storage_offset(), 4);

  const Value ck = io::load(fixture("legacy_checkpoint_p4.pt"));
  EXPECT_EQ(ck.at("epoch").to_int(), 7);
  const io::StateDict sd = io::load_state_dict(fixture("legacy_checkpoint_p4.pt"));
  EXPECT_EQ(sd.keys(), (std::vector<std::string>{"fc.weight", "fc.bias"}));
  EXPECT_TRUE(equal(sd.at("fc.weight"), arange(6, TensorOptions(DType::Float32)).reshape({2, 3})));
  EXPECT_TRUE(equal(sd.at("fc.bias"), tensor({0.5, -1})));
  EXPECT_TRUE(
      equal(ck.at("optimizer").at("state").at(Value(int64_t(0))).at("momentum_buffer").to_tensor(),
            ones({4})));
  EXPECT_EQ(ck.at("optimizer").at("param_groups").items()[0].at("lr").to_double(), 0.1);

  // PyTorch 0.3's tensors (_rebuild_tensor, without v2's requires_grad), a transposed view too.
  const io::StateDict v1 = io::load_state_dict(fixture("legacy_v1_tensors.pt"));
  EXPECT_EQ(v1.keys(), (std::vector<std::string>{"fc.weight", "fc.bias", "fc_weight_t"}));
  EXPECT_TRUE(equal(v1.at("fc.weight"), arange(6, TensorOptions(DType::Float32)).reshape({2, 3})));
  EXPECT_TRUE(equal(v1.at("fc_weight_t"), v1.at("fc.weight").t()));
  EXPECT_EQ(v1.at("fc_weight_t").strides(), (Shape{1, 3}));

  const io::StateDict whole = io::load_state_dict(fixture("legacy_whole_custom.pt"));
  const io::StateDict twin = io::load_state_dict(fixture("whole_custom_sd.pt"));
  ASSERT_EQ(whole.keys(), twin.keys());
  for (const auto& k : twin.keys()) EXPECT_TRUE(equal(whole.at(k), twin.at(k))) << k;
}

// torch.save(model): the pickled module objects read as the model's state_dict, key for key and
// bit for bit what torch.save(model.state_dict()) holds, without running any of their code: a
// Sequential, a DataParallel (keys "module.", a torch.device attribute), and a class of the
// generating script with a shared child, a TransformerEncoderLayer (a function attribute) and
// non-persistent and None entries, which state_dict() leaves out.
TEST(TorchFiles, WholeModulesReadAsTheirStateDicts) {
  // ... and TorchScript archives (torch.jit.script and torch.jit.trace, then save()), whose
  // modules pickle their tensors and submodules as plain attributes.
  for (const std::string name :
       {"whole_sequential", "whole_dataparallel", "whole_custom", "ts_scripted", "ts_traced"}) {
    const io::StateDict whole = io::load_state_dict(fixture(name + ".pt"));
    const io::StateDict sd = io::load_state_dict(fixture(name + "_sd.pt"));
    ASSERT_EQ(whole.keys(), sd.keys()) << name;
    for (const auto& k : sd.keys()) {
      EXPECT_EQ(whole.at(k).dtype(), sd.at(k).dtype()) << name << " " << k;
      EXPECT_TRUE(equal(whole.at(k), sd.at(k))) << name << " " << k;
    }
  }
  const nlohmann::json want = nlohmann::json::parse(std::ifstream(fixture("whole_expected.json")));
  const io::StateDict custom = io::load_state_dict(fixture("whole_custom.pt"));
  EXPECT_EQ(custom.keys(), want["custom_keys"].get<std::vector<std::string>>());
  // The shared child is one tensor under both names, as in the module.
  EXPECT_EQ(custom.at("embed.weight").storage(), custom.at("head.weight").storage());
  // Multi-card whole models reconcile to a one-device model's keys like their state_dicts.
  const io::StateDict dp = io::load_state_dict(fixture("whole_dataparallel.pt"));
  const io::StateDict seq = io::load_state_dict(fixture("whole_sequential.pt"));
  EXPECT_EQ(io::reconcile_prefixes(dp, seq.keys()).keys(), seq.keys());
}

// A checkpoint dict holding a whole model, numpy scalars and arrays, an argparse.Namespace,
// torch.device, a dtype, sets and a defaultdict, as pickle protocols 2 (_codecs.encode bytes, set()
// calls) and 4 (bytes opcodes, EMPTY_SET, FROZENSET, STACK_GLOBAL) write them: every value as
// whole_expected.json (from Python) says.
TEST(TorchFiles, CheckpointObjectsReadAsData) {
  const nlohmann::json want = nlohmann::json::parse(std::ifstream(fixture("whole_expected.json")));
  const io::StateDict custom = io::load_state_dict(fixture("whole_custom_sd.pt"));
  for (const char* name : {"whole_checkpoint_p2.pt", "whole_checkpoint_p4.pt"}) {
    const Value v = io::load(fixture(name));
    EXPECT_EQ(v.at("epoch").to_int(), want["epoch"].get<int64_t>()) << name;
    EXPECT_EQ(v.at("best_acc").to_double(), want["best_acc"].get<double>()) << name;
    EXPECT_EQ(v.at("lr").to_double(), want["lr"].get<double>()) << name;  // float32's value
    EXPECT_EQ(v.at("flag").to_bool(), want["flag"].get<bool>()) << name;
    EXPECT_EQ(v.at("small").to_int(), want["small"].get<int64_t>()) << name;
    EXPECT_EQ(v.at("half").to_double(), want["half"].get<double>()) << name;
    EXPECT_EQ(v.at("count").to_int(), want["count"].get<int64_t>()) << name;
    EXPECT_EQ(v.at("args").repr(), "{'__class__': 'argparse.Namespace', 'lr': 0.1, 'arch': 'tied'}")
        << name;
    EXPECT_EQ(v.at("args").at("lr").to_double(), want["args"]["lr"].get<double>()) << name;
    EXPECT_EQ(v.at("device").to_string(), want["device"].get<std::string>()) << name;
    EXPECT_EQ(v.at("cpu").to_string(), want["cpu"].get<std::string>()) << name;
    EXPECT_EQ(v.at("tags").repr(), "['best']") << name;
    EXPECT_EQ(v.at("frozen").repr(), "[7]") << name;
    EXPECT_EQ(v.at("dtype").to_string(), want["dtype"].get<std::string>()) << name;
    EXPECT_EQ(v.at("counts").repr(), "{'a': 1}") << name;
    // Instances of a dict subclass and of a list subclass (Lightning's AttributeDict, ...).
    EXPECT_EQ(v.at("hparams").repr(),
              "{'__class__': '__main__.AttrDict', 'lr': 0.1, 'layers': [1, 2]}")
        << name;
    EXPECT_EQ(v.at("history").repr(), "{'__class__': '__main__.History', '__items__': [1.5, 2.5]}")
        << name;
    // numpy arrays: tensors of numpy's dtype, shape and strides (a Fortran-order array keeps its
    // column-major strides; big-endian data reads as its values).
    for (const auto& [key, e] : want["arrays"].items()) {
      const Tensor t = v.at(key).to_tensor();
      EXPECT_EQ(dtype_name(t.dtype()), e["dtype"].get<std::string>()) << name << " " << key;
      EXPECT_EQ(t.sizes(), e["shape"].get<Shape>()) << name << " " << key;
      EXPECT_EQ(t.strides(), e["strides"].get<Shape>()) << name << " " << key;
      const Tensor flat = t.to(DType::Float64).contiguous().reshape({-1});
      const auto values = e["values"].get<std::vector<double>>();
      ASSERT_EQ(size_t(flat.numel()), values.size()) << name << " " << key;
      for (size_t i = 0; i < values.size(); ++i)
        EXPECT_EQ(flat[int64_t(i)].item(), values[i]) << name << " " << key << " " << i;
    }
    // Types without a tensor dtype or a number stay objects, with what numpy pickled.
    EXPECT_EQ(v.at("names").at("__class__").to_string(), "numpy.ndarray") << name;
    EXPECT_EQ(v.at("word").at("__class__").to_string(), "numpy.generic") << name;
    const io::StateDict model = io::load_state_dict(fixture(name));  // under 'model'
    ASSERT_EQ(model.keys(), custom.keys()) << name;
    for (const auto& k : custom.keys()) EXPECT_TRUE(equal(model.at(k), custom.at(k))) << k;
    EXPECT_EQ(io::load_checkpoint(fixture(name)).epoch, 4) << name;
  }
}

// What an object may not do: nothing it names is ever called, and malformed objects, numpy
// scalars and bytes are refused naming the problem. An instance of os.system is only a name.
TEST(TorchFiles, ObjectsNeverRunAnything) {
  const std::string marker = "/tmp/tandem_pwned";
  fs::remove(marker);
  using namespace std::string_literals;  // "..."s keeps the NUL bytes
  // NEWOBJ of os.system with arguments, then BUILD with a dict: an inert object.
  const std::string newobj = with_pickle("newobj_system.pt",
                                         "\x80\x02"
                                         "cos\nsystem\n"
                                         "X\x05\x00\x00\x00"
                                         "touch"
                                         "\x85\x81}"
                                         "X\x01\x00\x00\x00"
                                         "a"
                                         "K\x01"
                                         "sb."s);
  EXPECT_EQ(io::load_torch(newobj).repr(),
            "{'__class__': 'os.system', '__args__': ('touch',), 'a': 1}");
  // numpy.core.multiarray.scalar(numpy.dtype('f8'), <data>)
  const auto f8_scalar_of = [](const std::string& data) {
    return "\x80\x02"
           "cnumpy.core.multiarray\nscalar\n"
           "cnumpy\ndtype\n"
           "X\x02\x00\x00\x00"
           "f8"
           "\x85R"s +
           data + "\x86R.";
  };
  const std::pair<std::string, const char*> refused[] = {
      // REDUCE of a class is a call
      {"\x80\x02"
       "c__main__\nNet\n"
       ")R."s,
       "calling __main__.Net (REDUCE)"},
      {"\x80\x02"
       "K\x01"
       ")\x81."s,
       "NEWOBJ of a non-class"},
      {"\x80\x02"
       "cx\ny\n"
       "]\x81."s,
       "expected a tuple"},  // NEWOBJ's arguments a list
      {"\x80\x02"
       "]}b."s,
       "BUILD on a list"},
      {"\x80\x03"
       "C\x09"
       "ab."s,
       "run past the end"},  // bytes longer than the pickle
      // a numpy scalar with bytes that do not fit its dtype, and one whose data is an instance
      // of builtins.bytes made by NEWOBJ, not bytes
      {f8_scalar_of("C\x02"
                    "\x00\x00"s),
       "numpy scalar of dtype 'f8' with 2 bytes"},
      {f8_scalar_of("cbuiltins\nbytes\n"
                    ")\x81"s),
       "numpy scalar data is not bytes"},
      // protocol 2's bytes are latin-1 text; any other encoding is refused
      {"\x80\x02"
       "c_codecs\nencode\n"
       "X\x01\x00\x00\x00"
       "a"
       "X\x04\x00\x00\x00"
       "utf8"
       "\x86R."s,
       "_codecs.encode other than"},
  };
  int i = 0;
  for (const auto& [pickle, expect] : refused) {
    const std::string path = with_pickle("refused_" + std::to_string(i++) + ".pt", pickle);
    const std::string e = error_of([&] { io::load_torch(path); });
    EXPECT_NE(e.find(expect), std::string::npos) << expect << ": " << e;
  }
  EXPECT_FALSE(fs::exists(marker));
}

namespace {

// /usr/bin/python3 running `code` with `arg` as sys.argv[1]: its exit code.
int run_python(const std::string& code, const std::string& arg) {
  return launch::run_program({"/usr/bin/python3", "-c", code, arg}, "").exit_code;
}

}  // namespace

// MultiStepLR's milestones are a collections.Counter in PyTorch; the .pt export writes one, so
// torch's MultiStepLR.load_state_dict then step() and step(epoch) (which calls elements()) work.
TEST(TorchFiles, MultiStepLRMilestonesExportAsACounter) {
  Stepped a = stepped(3);
  optim::MultiStepLR sched(*a.opt, {2, 4, 4}, 0.5);
  for (int i = 0; i < 3; ++i) sched.step();
  io::Checkpoint ck;
  ck.epoch = 3;
  ck.model = a.net->state_dict();
  ck.optimizer = a.opt->state_dict();
  ck.scheduler = sched.state_dict();
  const std::string path = temp_path("multistep.pt");
  io::save_checkpoint(ck, path);
  // Reads back in tandem as the dict it was.
  const io::Checkpoint back = io::load_checkpoint(path);
  EXPECT_EQ(back.scheduler.at("milestones").repr(), ck.scheduler.at("milestones").repr());
  EXPECT_EQ(back.scheduler.at("milestones").repr(), "{2: 1, 4: 2}");
  if (run_python("import torch", "") != 0)
    GTEST_SKIP() << "PyTorch (python3-torch) is not installed";
  EXPECT_EQ(
      run_python("import sys, collections, torch\n"
                 "c = torch.load(sys.argv[1])\n"
                 "m = c['scheduler']['milestones']\n"
                 "assert type(m) is collections.Counter, type(m)\n"
                 "assert m == collections.Counter({2: 1, 4: 2}), m\n"
                 "p = torch.nn.Parameter(torch.zeros(1))\n"
                 "o = torch.optim.SGD([p], lr=0.1)\n"
                 "s = torch.optim.lr_scheduler.MultiStepLR(o, [9])\n"
                 "s.load_state_dict(c['scheduler'])\n"
                 "assert s.last_epoch == 3\n"
                 "s.step()\n"
                 "assert abs(o.param_groups[0]['lr'] - 0.1 * 0.5 ** 2) < 1e-12, o.param_groups\n"
                 "s.step(5)\n"
                 "assert abs(o.param_groups[0]['lr'] - 0.1 * 0.5 ** 3) < 1e-12, o.param_groups\n",
                 path),
      0);
}
