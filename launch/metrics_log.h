// metrics.jsonl: one JSON object per line, flushed as written so a crash loses nothing logged.
// Step records {"type":"step","epoch","step","loss","lr"} and epoch records {"type":"epoch",
// "epoch","train_loss","val_loss","val_accuracy","images_per_s","seconds"} (DESIGN/issue 7), to
// which a segmentation run adds "val_iou", "val_dice" (means over classes) and "val_class_iou",
// "val_class_dice" (one per class); val_accuracy is then pixel accuracy.
// JSON has no NaN or infinity: a non-finite value is written as the string "nan", "inf" or
// "-inf" (what Python's float() reads back), so a diverged run still leaves valid JSON lines.
#pragma once

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace tandem::launch {

class MetricsLog {
 public:
  // Continues `path` from a run's resume point: records past it (written after the checkpoint
  // the run resumes from, by a run that was then killed) are dropped first, so a resumed run
  // never logs an epoch or step twice. A fresh run (0, 0) starts an empty file.
  MetricsLog(const std::string& path, int64_t epochs_done, int64_t global_step);
  void step(int64_t epoch, int64_t step, double loss, double lr);
  // `extra`: further fields of the record, after these (a segmentation run's val_iou, ...).
  void epoch(int64_t epoch, double train_loss, double val_loss, double val_accuracy,
             double images_per_s, double seconds, const nlohmann::ordered_json& extra = {});
  const std::string& path() const { return path_; }
  // Lines of an earlier run the constructor dropped (past the resume point, or torn).
  int64_t dropped() const { return dropped_; }

 private:
  std::string path_;
  int64_t dropped_ = 0;
  std::ofstream out_;
};

// A metric as JSON: the number, or "nan" / "inf" / "-inf"; and back (null also reads as nan).
nlohmann::json metric_json(double value);
// A list of metrics (per-class IoU, ...) as a JSON array of metric_json values.
nlohmann::json metric_list(const std::vector<double>& values);
double metric_value(const nlohmann::json& j);

// Draws loss and accuracy curves from metrics.jsonl's epoch records into `svg_path` with gnuplot
// (Debian's gnuplot-nox), run without a shell and fed its script and data on stdin; the SVG is
// replaced atomically. Non-finite values are gaps in their curve, counted in its legend. Returns
// false (and says why in `why`) when gnuplot is not installed or fails.
bool plot_metrics(const std::string& jsonl_path, const std::string& svg_path, std::string* why);

}  // namespace tandem::launch
