// Checkpoints, two ways PyTorch users know:
//   1. the dict they build themselves:
//        torch.save({'epoch': e, 'model_state_dict': model.state_dict(),
//                    'optimizer_state_dict': optimizer.state_dict(), 'loss': loss}, path)
//   2. the checkpoint of a run (epoch, model, optimizer, scheduler, best metric, is_best) in one
//      call: io::save_checkpoint / io::load_checkpoint, as `tandem train` writes them.
// Either way, training resumed from the file continues exactly as the uninterrupted run.
// Run: ./checkpoint_dict
#include <tandem/tandem.h>

#include <iostream>
#include <memory>

#include "example_check.h"

using namespace tandem;

struct Run {
  std::shared_ptr<nn::Sequential> model;
  std::unique_ptr<optim::SGD> optimizer;
  std::unique_ptr<optim::StepLR> scheduler;
};

Run make_run(uint64_t seed) {
  Generator gen(seed);
  Run r;
  r.model = nn::models::mlp({.in_features = 16, .hidden = {32}, .num_classes = 4}, gen);
  r.optimizer = std::make_unique<optim::SGD>(r.model->parameters(),
                                             optim::SgdOptions{.lr = 0.1, .momentum = 0.9});
  r.scheduler = std::make_unique<optim::StepLR>(*r.optimizer, /*step_size=*/2, /*gamma=*/0.5);
  return r;
}

// One epoch of two steps on fixed data; returns the last loss.
double train_epoch(Run& r, int64_t epoch) {
  Generator data(100 + uint64_t(epoch));
  double loss_value = 0;
  for (int step = 0; step < 2; ++step) {
    const Tensor x = randn({8, 16}, data);
    const Tensor y = from_vector(std::vector<int64_t>{0, 1, 2, 3, 0, 1, 2, 3}, {8});
    r.optimizer->zero_grad();
    Tensor loss = cross_entropy((*r.model)(x), y);
    loss.backward();
    r.optimizer->step();
    loss_value = loss.item();
  }
  r.scheduler->step();
  return loss_value;
}

int main() {
  Run run = make_run(0);
  double loss = 0;
  for (int64_t epoch = 0; epoch < 3; ++epoch) loss = train_epoch(run, epoch);

  // 1. A checkpoint dict of one's own, in PyTorch's .pt format.
  Value ckpt = Value::dict();
  ckpt.set("epoch", 3);
  ckpt.set("model_state_dict", run.model->state_dict());
  ckpt.set("optimizer_state_dict", run.optimizer->state_dict());
  ckpt.set("scheduler_state_dict", run.scheduler->state_dict());
  ckpt.set("loss", loss);
  io::save(ckpt, "checkpoint.pt");

  // 2. The checkpoint struct in one call (.safetensors: tandem's; .pt: PyTorch's dict).
  io::Checkpoint whole;
  whole.epoch = 3;
  whole.model = run.model->state_dict();
  whole.optimizer = run.optimizer->state_dict();
  whole.scheduler = run.scheduler->state_dict();
  whole.best_metric = loss;
  whole.has_best_metric = true;
  whole.is_best = true;
  io::save_checkpoint(whole, "checkpoint.safetensors");

  // The uninterrupted run's next epoch.
  const double expected = train_epoch(run, 3);

  // Resume from the dict: model.load_state_dict(checkpoint['model_state_dict']), ...
  Run from_dict = make_run(7);
  const Value loaded = io::load("checkpoint.pt");
  from_dict.model->load_state_dict(loaded.at("model_state_dict"));
  from_dict.optimizer->load_state_dict(loaded.at("optimizer_state_dict"));
  from_dict.scheduler->load_state_dict(loaded.at("scheduler_state_dict"));
  const int64_t epoch = loaded.at("epoch").to_int();
  std::cout << "checkpoint.pt: epoch " << epoch << ", loss " << loaded.at("loss").to_double()
            << "\n";
  const double resumed = train_epoch(from_dict, epoch);
  check(resumed == expected, "the run resumed from checkpoint.pt continues exactly");

  // Resume from the struct.
  Run from_struct = make_run(8);
  const io::Checkpoint back = io::load_checkpoint("checkpoint.safetensors");
  from_struct.model->load_state_dict(back.model);
  from_struct.optimizer->load_state_dict(back.optimizer);
  from_struct.scheduler->load_state_dict(back.scheduler);
  check(back.is_best && back.has_best_metric, "best metric and is_best are kept");
  check(train_epoch(from_struct, back.epoch) == expected,
        "the run resumed from checkpoint.safetensors continues exactly");

  std::cout << "resumed loss " << resumed << " == uninterrupted " << expected << "\n";
  std::cout << "optimizer state entries:";
  for (const auto& [key, value] : run.optimizer->state_dict().dict_items())  // safe on a temporary
    std::cout << " " << key.to_string();
  std::cout << "\n";
  return 0;
}
