// BatchNorm1d / BatchNorm2d, as torch/nn/modules/batchnorm.py (_NormBase, _BatchNorm):
// momentum (None = cumulative average), affine, track_running_stats, num_batches_tracked
// (0-dim int64), _version 2 and its load rule for a missing num_batches_tracked.
//
//   auto bn = std::make_shared<nn::BatchNorm2d>(16);
//   // BatchNorm2d(16, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)
#pragma once

#include <optional>

#include "framework/nn/module.h"

namespace tandem::nn {

struct BatchNormOptions {
  BatchNormOptions(int64_t num_features = 0) : num_features(num_features) {}  // NOLINT
  int64_t num_features = 0;
  double eps = 1e-5;
  std::optional<double> momentum = 0.1;  // nullopt: cumulative moving average
  bool affine = true;
  bool track_running_stats = true;
};

class BatchNormBase : public Module {
 public:
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  int64_t version() const override { return 2; }
  void reset_running_stats();
  void reset_parameters();

  BatchNormOptions options;
  Tensor weight, bias;                                    // if affine
  Tensor running_mean, running_var, num_batches_tracked;  // if track_running_stats

 protected:
  BatchNormBase(const char* name, const BatchNormOptions& options);
  virtual void check_input_dim(const Tensor& x) const = 0;
  void load_from_state_dict(StateDict& state_dict, const std::string& prefix,
                            std::optional<int64_t> version, std::vector<std::string>& missing_keys,
                            std::vector<std::string>& unexpected_keys,
                            std::vector<std::string>& error_msgs) override;
};

class BatchNorm1d : public BatchNormBase {
 public:
  explicit BatchNorm1d(const BatchNormOptions& options) : BatchNormBase("BatchNorm1d", options) {}
  explicit BatchNorm1d(int64_t num_features) : BatchNorm1d(BatchNormOptions(num_features)) {}

 protected:
  void check_input_dim(const Tensor& x) const override;
};

class BatchNorm2d : public BatchNormBase {
 public:
  explicit BatchNorm2d(const BatchNormOptions& options) : BatchNormBase("BatchNorm2d", options) {}
  explicit BatchNorm2d(int64_t num_features) : BatchNorm2d(BatchNormOptions(num_features)) {}

 protected:
  void check_input_dim(const Tensor& x) const override;
};

}  // namespace tandem::nn
