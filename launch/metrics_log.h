// metrics.jsonl: one JSON object per line, flushed as written so a crash loses nothing logged.
// Step records {"type":"step","epoch","step","loss","lr"} and epoch records {"type":"epoch",
// "epoch","train_loss","val_loss","val_accuracy","images_per_s","seconds"} (DESIGN/issue 7).
#pragma once

#include <fstream>
#include <string>

namespace tandem::launch {

class MetricsLog {
 public:
  // Appends to `path` (a resumed run continues the same file).
  explicit MetricsLog(const std::string& path);
  void step(int64_t epoch, int64_t step, double loss, double lr);
  void epoch(int64_t epoch, double train_loss, double val_loss, double val_accuracy,
             double images_per_s, double seconds);
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::ofstream out_;
};

// Draws loss and accuracy curves from metrics.jsonl into `svg_path` with gnuplot (Debian's
// gnuplot-nox). Returns false (and says why in `why`) when gnuplot is not installed.
bool plot_metrics(const std::string& jsonl_path, const std::string& svg_path, std::string* why);

}  // namespace tandem::launch
