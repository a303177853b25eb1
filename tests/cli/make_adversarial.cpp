// Writes the hostile inputs of tests/cli/adversarial.sh into DIR (see tests/adversarial_inputs.h):
// crafted .pt, .safetensors, YAML and IDX files, and checkpoints of the synthetic config's run
// whose optimizer, scheduler or position was tampered with.
//   tandem_make_adversarial DIR CONFIGS_DIR
#include <filesystem>

#include "framework/io/checkpoint.h"
#include "framework/optim/factory.h"
#include "framework/tensor/factories.h"
#include "launch/config.h"
#include "launch/training_setup.h"
#include "tests/adversarial_inputs.h"

using namespace tandem;
using namespace tandem::adversarial;

int main(int argc, char** argv) {
  if (argc != 3) return 2;
  const std::string dir = argv[1], configs = argv[2];
  auto at = [&](const std::string& name) { return dir + "/" + name; };
  write_bytes(at("nested.pt"), torch_zip(pickle_nested_lists(1'000'000)));
  write_bytes(at("selfref.pt"), torch_zip(pickle_self_list()));
  write_bytes(at("dag.pt"), torch_zip(pickle_memo_dag(60)));
  write_bytes(at("dict100k.pt"), torch_zip(pickle_dict(100'000)));
  write_bytes(at("stride_wrap.pt"),
              torch_zip(pickle_strided_tensor({1023}, {(int64_t(1) << 62) + 1}, 0, 4),
                        {{"0", std::string(16, '\0')}}));
  write_bytes(at("non_utf8.pt"), torch_zip(pickle_non_utf8_key()));
  write_bytes(at("zip4g.pt"), zip_declaring(uint64_t(4) << 30));
  write_bytes(at("nested.safetensors"), safetensors_nested(1'000'000));
  write_bytes(at("many.safetensors"), safetensors_many(100'000));
  write_bytes(at("laughs.yaml"), yaml_billion_laughs(12));
  write_bytes(at("big_linear.yaml"),
              "model: {name: sequential, layers: [flatten, {linear: {in_features: 64, "
              "out_features: 4611686018427387904}}]}\ndata: {dataset: synthetic}\n");
  std::filesystem::create_directories(at("idx"));
  write_idx_gz(at("idx/train-images-idx3-ubyte.gz"), 0x803, {4, 1u << 31, 1u << 31}, "");
  write_idx_gz(at("idx/train-labels-idx1-ubyte.gz"), 0x801, {4}, std::string(4, '\0'));
  write_bytes(at("idx.yaml"), cat("data: {dataset: fashion_mnist, root: ", at("idx"), "}\n"));

  {  // eval of a checkpoint whose stored config is a billion laughs
    io::Checkpoint ck;
    ck.config_yaml = yaml_billion_laughs(12);
    io::save_checkpoint(ck, at("laughs_ck.safetensors"));
  }
  // Checkpoints of configs/synthetic.yaml's run, each tampered with in one field.
  const launch::RunConfig cfg = launch::load_config(configs + "/synthetic.yaml");
  const nn::ModulePtr model = launch::build_model_from_config(cfg);
  const auto optimizer = optim::make_optimizer(cfg.optimizer, model->parameters());
  const auto scheduler = optim::make_scheduler(cfg.scheduler, *optimizer, 3, 32);
  auto checkpoint = [&] {
    io::Checkpoint ck;
    ck.epoch = 1;
    ck.global_step = 32;
    ck.model = model->state_dict();
    ck.optimizer = optimizer->state_dict();
    ck.scheduler = scheduler->state_dict();
    ck.config_yaml = launch::to_yaml(cfg);
    return ck;
  };
  io::Checkpoint momentum = checkpoint();
  Value state = Value::dict();
  state.set("momentum_buffer", Value(zeros({4})));
  momentum.optimizer.at("state").set(Value(int64_t(0)), state);
  io::save_checkpoint(momentum, at("momentum.safetensors"));
  io::Checkpoint base_lrs = checkpoint();
  base_lrs.scheduler.set("base_lrs", Value::list());
  io::save_checkpoint(base_lrs, at("base_lrs.safetensors"));
  io::Checkpoint position = checkpoint();
  position.step_in_epoch = -5;
  io::save_checkpoint(position, at("step_in_epoch.safetensors"));
  return 0;
}
