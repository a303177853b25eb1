// metrics.jsonl writer and the gnuplot rendering of its curves.
#include "launch/metrics_log.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "kernels/common/error.h"

namespace tandem::launch {

MetricsLog::MetricsLog(const std::string& path) : path_(path), out_(path, std::ios::app) {
  if (!out_)
    throw Error("cannot open " + path + " for writing", "check checkpoint.dir is writable");
}

void MetricsLog::step(int64_t epoch, int64_t step, double loss, double lr) {
  nlohmann::ordered_json j = {
      {"type", "step"}, {"epoch", epoch}, {"step", step}, {"loss", loss}, {"lr", lr}};
  out_ << j.dump() << "\n" << std::flush;
}

void MetricsLog::epoch(int64_t epoch, double train_loss, double val_loss, double val_accuracy,
                       double images_per_s, double seconds) {
  nlohmann::ordered_json j = {{"type", "epoch"},
                              {"epoch", epoch},
                              {"train_loss", train_loss},
                              {"val_loss", val_loss},
                              {"val_accuracy", val_accuracy},
                              {"images_per_s", images_per_s},
                              {"seconds", seconds}};
  out_ << j.dump() << "\n" << std::flush;
}

bool plot_metrics(const std::string& jsonl_path, const std::string& svg_path, std::string* why) {
  if (std::system("command -v gnuplot >/dev/null 2>&1") != 0) {
    if (why) *why = "gnuplot is not installed (apt-get install gnuplot-nox)";
    return false;
  }
  // gnuplot reads whitespace-separated columns: write the epoch records as a small table.
  const std::string dat = svg_path + ".dat";
  {
    std::ifstream in(jsonl_path);
    std::ofstream out(dat);
    out << "# epoch train_loss val_loss val_accuracy\n";
    for (std::string line; std::getline(in, line);) {
      auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (j.is_discarded() || j.value("type", "") != "epoch") continue;
      out << j["epoch"].get<int64_t>() << " " << j["train_loss"].get<double>() << " "
          << j["val_loss"].get<double>() << " " << j["val_accuracy"].get<double>() << "\n";
    }
  }
  const std::string script = svg_path + ".gp";
  {
    std::ofstream gp(script);
    gp << "set terminal svg size 900,400 dynamic\n"
       << "set output '" << svg_path << "'\n"
       << "set multiplot layout 1,2\n"
       << "set xlabel 'epoch'\nset key top right\nset grid\n"
       << "set title 'loss'\n"
       << "plot '" << dat
       << "' using 1:2 with linespoints title 'train', '' using 1:3 with linespoints title 'val'\n"
       << "set title 'val accuracy'\nset key bottom right\n"
       << "plot '" << dat << "' using 1:4 with linespoints title 'accuracy'\n"
       << "unset multiplot\n";
  }
  const int rc = std::system(("gnuplot '" + script + "' 2>/dev/null").c_str());
  std::filesystem::remove(script);
  std::filesystem::remove(dat);
  if (rc != 0) {
    if (why) *why = "gnuplot failed";
    return false;
  }
  return true;
}

}  // namespace tandem::launch
