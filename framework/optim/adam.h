// Adam and AdamW, as torch.optim.Adam / AdamW (reference §1.3): bias correction, amsgrad,
// L2 (coupled) or decoupled weight decay. State: 'step' (0-dim float32 tensor), 'exp_avg',
// 'exp_avg_sq' and, with amsgrad, 'max_exp_avg_sq'.
#pragma once

#include <memory>
#include <utility>

#include "framework/optim/optimizer.h"

namespace tandem::optim {

class AdamUpdates;  // a step's queued kernel calls (adam.cpp)

struct AdamOptions {
  double lr = 1e-3;
  std::pair<double, double> betas{0.9, 0.999};
  double eps = 1e-8;
  double weight_decay = 0;  // AdamW's default is 1e-2
  bool amsgrad = false;
  bool maximize = false;
};

class Adam : public Optimizer {
 public:
  Adam(std::vector<Tensor> params, const AdamOptions& options, bool decoupled_weight_decay = false);
  Adam(std::vector<std::pair<std::vector<Tensor>, Value>> groups, const AdamOptions& defaults,
       bool decoupled_weight_decay = false);
  ~Adam() override;
  void step() override;
  std::string name() const override { return decoupled_ ? "AdamW" : "Adam"; }
  static Value defaults_of(const AdamOptions& o, bool decoupled);

 protected:
  void fix_loaded_state(Value& state, const ParamGroup& group) override;
  // All of 'step' (a number or one-element tensor), 'exp_avg' and 'exp_avg_sq' (tensors of the
  // param's shape), plus 'max_exp_avg_sq' when the group uses amsgrad; or none of them.
  void check_loaded_state(const Value& state, const Tensor& param, const Value& group_options,
                          const std::string& where) const override;

 private:
  bool decoupled_;
  std::unique_ptr<AdamUpdates> updates_;
};

class AdamW : public Adam {
 public:
  static AdamOptions default_options() {
    AdamOptions o;
    o.weight_decay = 1e-2;
    return o;
  }
  AdamW(std::vector<Tensor> params, const AdamOptions& options = default_options())
      : Adam(std::move(params), options, true) {}
};

}  // namespace tandem::optim
