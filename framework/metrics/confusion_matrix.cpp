// Confusion-matrix counting and the metrics derived from it (see confusion_matrix.h).
#include "framework/metrics/confusion_matrix.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/common/error.h"

namespace tandem::metrics {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr int64_t kMaxClasses = 4096;

double nanmean(const std::vector<double>& v) {
  double sum = 0;
  int64_t n = 0;
  for (double x : v)
    if (!std::isnan(x)) {
      sum += x;
      ++n;
    }
  return n == 0 ? kNaN : sum / double(n);
}

}  // namespace

ConfusionMatrix::ConfusionMatrix(int64_t num_classes, int64_t ignore_index)
    : num_classes_(num_classes), ignore_index_(ignore_index) {
  // The dense matrix grows as num_classes^2 (4096 classes: 128 MiB), far past any segmentation
  // label set; a larger count is a mistake (a pixel value taken for a class count).
  TANDEM_CHECK(num_classes > 0 && num_classes <= kMaxClasses,
               "ConfusionMatrix: num_classes must be in [1, ", kMaxClasses, "], got ", num_classes);
  counts_.assign(size_t(num_classes * num_classes), 0);
}

void ConfusionMatrix::add(const int64_t* predictions, const int64_t* targets, int64_t count) {
  TANDEM_CHECK(count >= 0, "ConfusionMatrix::add: negative count ", count);
  // Validate everything first, so a failing call leaves the counts as they were.
  for (int64_t i = 0; i < count; ++i) {
    const int64_t t = targets[i], p = predictions[i];
    if (t == ignore_index_) continue;
    TANDEM_CHECK(t >= 0 && t < num_classes_, "ConfusionMatrix: target ", t, " at element ", i,
                 " is outside [0, ", num_classes_, ") and is not the ignore_index ", ignore_index_);
    TANDEM_CHECK(p >= 0 && p < num_classes_, "ConfusionMatrix: prediction ", p, " at element ", i,
                 " is outside [0, ", num_classes_, ")");
  }
  for (int64_t i = 0; i < count; ++i)
    if (targets[i] != ignore_index_) ++counts_[size_t(targets[i] * num_classes_ + predictions[i])];
}

void ConfusionMatrix::add(const Tensor& predictions, const Tensor& targets) {
  for (const Tensor* t : {&predictions, &targets})
    TANDEM_CHECK(t->defined() && t->is_cpu() && t->dtype() == DType::Int64,
                 "ConfusionMatrix::add: predictions and targets must be CPU int64 tensors");
  TANDEM_CHECK(predictions.sizes() == targets.sizes(),
               "ConfusionMatrix::add: predictions and targets differ in shape");
  const Tensor p = predictions.contiguous(), t = targets.contiguous();
  add(p.data_ptr<int64_t>(), t.data_ptr<int64_t>(), p.numel());
}

void ConfusionMatrix::merge(const ConfusionMatrix& other) {
  TANDEM_CHECK(other.num_classes_ == num_classes_, "ConfusionMatrix::merge: ", other.num_classes_,
               " classes into ", num_classes_);
  for (size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
}

void ConfusionMatrix::reset() { std::fill(counts_.begin(), counts_.end(), 0); }

std::vector<double> ConfusionMatrix::counts() const {
  return std::vector<double>(counts_.begin(), counts_.end());
}

void ConfusionMatrix::set_counts(const std::vector<double>& counts) {
  TANDEM_CHECK(counts.size() == counts_.size(), "ConfusionMatrix::set_counts: ", counts.size(),
               " counts for ", num_classes_, " classes (expected ", counts_.size(), ")");
  for (double c : counts)
    TANDEM_CHECK(c >= 0 && c <= 9007199254740992.0 && std::floor(c) == c,
                 "ConfusionMatrix::set_counts: ", c, " is not a count");
  for (size_t i = 0; i < counts.size(); ++i) counts_[i] = int64_t(counts[i]);
}

int64_t ConfusionMatrix::count(int64_t target, int64_t prediction) const {
  TANDEM_CHECK(target >= 0 && target < num_classes_ && prediction >= 0 && prediction < num_classes_,
               "ConfusionMatrix::count: (", target, ", ", prediction, ") outside ", num_classes_,
               " classes");
  return counts_[size_t(target * num_classes_ + prediction)];
}

int64_t ConfusionMatrix::total() const {
  int64_t n = 0;
  for (int64_t c : counts_) n += c;
  return n;
}

double ConfusionMatrix::pixel_accuracy() const {
  int64_t trace = 0;
  for (int64_t k = 0; k < num_classes_; ++k) trace += counts_[size_t(k * num_classes_ + k)];
  const int64_t n = total();
  return n == 0 ? kNaN : double(trace) / double(n);
}

// Per class k: tp = C[k][k]; tp + fn = row k's sum (was k); tp + fp = column k's sum (predicted
// k). IoU = tp / (row + col - tp), Dice = 2 tp / (row + col), NaN where the denominator is 0.
std::vector<double> ConfusionMatrix::per_class(bool dice) const {
  std::vector<double> out(static_cast<size_t>(num_classes_));
  for (int64_t k = 0; k < num_classes_; ++k) {
    int64_t row = 0, col = 0;
    for (int64_t j = 0; j < num_classes_; ++j) {
      row += counts_[size_t(k * num_classes_ + j)];
      col += counts_[size_t(j * num_classes_ + k)];
    }
    const int64_t tp = counts_[size_t(k * num_classes_ + k)];
    const int64_t denom = dice ? row + col : row + col - tp;
    out[size_t(k)] = denom == 0 ? kNaN : (dice ? 2.0 : 1.0) * double(tp) / double(denom);
  }
  return out;
}

std::vector<double> ConfusionMatrix::iou() const { return per_class(false); }
std::vector<double> ConfusionMatrix::dice() const { return per_class(true); }
double ConfusionMatrix::mean_iou() const { return nanmean(iou()); }
double ConfusionMatrix::mean_dice() const { return nanmean(dice()); }

}  // namespace tandem::metrics
