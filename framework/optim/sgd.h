// SGD with momentum, dampening, Nesterov, weight decay and maximize, as torch.optim.SGD
// (reference §1.2). State: {'momentum_buffer': T} only when momentum != 0.
#pragma once

#include <memory>

#include "framework/optim/optimizer.h"

namespace tandem::optim {

class SgdUpdates;  // a step's queued kernel calls (sgd.cpp)

struct SgdOptions {
  double lr = 1e-3;
  double momentum = 0;
  double dampening = 0;
  double weight_decay = 0;
  bool nesterov = false;
  bool maximize = false;
};

class SGD : public Optimizer {
 public:
  SGD(std::vector<Tensor> params, const SgdOptions& options);
  // Groups with their own options (missing keys take the defaults), as param dicts in PyTorch.
  SGD(std::vector<std::pair<std::vector<Tensor>, Value>> groups, const SgdOptions& defaults);
  ~SGD() override;
  void step() override;
  std::string name() const override { return "SGD"; }
  static Value defaults_of(const SgdOptions& o);

 protected:
  // 'momentum_buffer': None (1.13 stores it without momentum) or a tensor of the param's shape.
  void check_loaded_state(const Value& state, const Tensor& param, const Value& group_options,
                          const std::string& where) const override;

 private:
  std::unique_ptr<SgdUpdates> updates_;
};

}  // namespace tandem::optim
