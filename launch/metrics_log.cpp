// metrics.jsonl writer, its truncation to a resume point, and the gnuplot rendering of its curves.
#include "launch/metrics_log.h"

#include <cmath>
#include <cstdio>
#include <sstream>
#include <vector>

#include "framework/io/atomic_write.h"
#include "kernels/common/error.h"
#include "launch/subprocess.h"

namespace tandem::launch {
namespace {

// Whether a record of an earlier run belongs before the resume point. Unreadable lines (a line
// torn by a kill in mid-write) are dropped; records of other types are kept.
bool before_resume_point(const std::string& line, int64_t epochs_done, int64_t global_step) {
  const auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return false;
  const auto type = j.find("type");
  if (type == j.end() || (*type != "step" && *type != "epoch")) return true;
  const bool step = *type == "step";
  const auto n = j.find(step ? "step" : "epoch");
  if (n == j.end() || !n->is_number_integer()) return false;
  return step ? n->get<int64_t>() <= global_step : n->get<int64_t>() < epochs_done;
}

// Returns how many lines it dropped.
int64_t truncate_to_resume_point(const std::string& path, int64_t epochs_done,
                                 int64_t global_step) {
  std::ifstream in(path);
  if (!in) return 0;  // no file yet
  std::string kept;
  int64_t dropped = 0;
  for (std::string line; std::getline(in, line);) {
    if (before_resume_point(line, epochs_done, global_step))
      kept += line + "\n";
    else
      ++dropped;
  }
  if (in.bad()) throw Error("cannot read " + path, "check the run directory");
  if (dropped > 0) io::atomic_write_file(path, kept);
  return dropped;
}

}  // namespace

nlohmann::json metric_json(double value) {
  if (std::isfinite(value)) return value;
  return std::isnan(value) ? "nan" : value > 0 ? "inf" : "-inf";
}

nlohmann::json metric_list(const std::vector<double>& values) {
  nlohmann::json list = nlohmann::json::array();
  for (double v : values) list.push_back(metric_json(v));
  return list;
}

double metric_value(const nlohmann::json& j) {
  if (j.is_number()) return j.get<double>();
  if (j.is_string()) {
    const std::string s = j.get<std::string>();
    if (s == "inf") return INFINITY;
    if (s == "-inf") return -INFINITY;
  }
  return NAN;  // "nan", null, missing
}

MetricsLog::MetricsLog(const std::string& path, int64_t epochs_done, int64_t global_step)
    : path_(path) {
  dropped_ = truncate_to_resume_point(path, epochs_done, global_step);
  out_.open(path, std::ios::app);
  if (!out_)
    throw Error("cannot open " + path + " for writing", "check checkpoint.dir is writable");
}

void MetricsLog::step(int64_t epoch, int64_t step, double loss, double lr) {
  nlohmann::ordered_json j = {{"type", "step"},
                              {"epoch", epoch},
                              {"step", step},
                              {"loss", metric_json(loss)},
                              {"lr", metric_json(lr)}};
  out_ << j.dump() << "\n" << std::flush;
}

void MetricsLog::epoch(int64_t epoch, double train_loss, double val_loss, double val_accuracy,
                       double images_per_s, double seconds, const nlohmann::ordered_json& extra) {
  nlohmann::ordered_json j = {{"type", "epoch"},
                              {"epoch", epoch},
                              {"train_loss", metric_json(train_loss)},
                              {"val_loss", metric_json(val_loss)},
                              {"val_accuracy", metric_json(val_accuracy)},
                              {"images_per_s", metric_json(images_per_s)},
                              {"seconds", metric_json(seconds)}};
  for (const auto& [key, value] : extra.items()) j[key] = value;
  out_ << j.dump() << "\n" << std::flush;
}

bool plot_metrics(const std::string& jsonl_path, const std::string& svg_path, std::string* why) {
  // The epoch records as a gnuplot datablock: the script holds numbers and fixed text only, never
  // a path, so nothing in checkpoint.dir can reach gnuplot's command language either.
  struct Series {
    const char* key;
    const char* title;
    int column;
    int64_t finite = 0, non_finite = 0;
  };
  Series series[] = {
      {"train_loss", "train", 2}, {"val_loss", "val", 3}, {"val_accuracy", "accuracy", 4}};
  std::ostringstream data;
  int64_t rows = 0;
  {
    std::ifstream in(jsonl_path);
    for (std::string line; std::getline(in, line);) {
      auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (j.is_discarded() || !j.is_object() || !j.contains("type") || j["type"] != "epoch")
        continue;
      const auto epoch = j.find("epoch");
      if (epoch == j.end() || !epoch->is_number_integer()) continue;
      data << epoch->get<int64_t>();
      for (Series& s : series) {
        const double v = metric_value(j.contains(s.key) ? j[s.key] : nlohmann::json());
        char text[32];
        std::snprintf(text, sizeof text, "%.17g", v);
        data << " " << (std::isfinite(v) ? text : "NaN");  // gnuplot leaves NaN points out
        ++(std::isfinite(v) ? s.finite : s.non_finite);
      }
      data << "\n";
      ++rows;
    }
  }
  if (rows == 0) {
    if (why) *why = "no epoch records in " + jsonl_path;
    return false;
  }
  std::ostringstream gp;
  gp << "set terminal svg size 900,400 dynamic\n"
     << "$metrics << EOD\n"
     << data.str() << "EOD\n"
     << "set multiplot layout 1,2\n"
     << "set xlabel 'epoch'\nset grid\n";
  auto panel = [&](const char* title, const char* key_position, std::vector<const Series*> lines) {
    gp << "set title '" << title << "'\nset key " << key_position << "\n";
    std::vector<const Series*> drawn;
    for (const Series* s : lines)
      if (s->finite > 0) drawn.push_back(s);
    if (drawn.empty()) {  // gnuplot refuses a plot without one defined point
      gp << "set label 1 'no finite values' at graph 0.5,0.5 center\n"
         << "plot [0:1][0:1] NaN notitle\nunset label 1\n";
      return;
    }
    gp << "plot ";
    for (size_t i = 0; i < drawn.size(); ++i) {
      gp << (i ? ", " : "") << "$metrics using 1:" << drawn[i]->column
         << " with linespoints title '" << drawn[i]->title;
      if (drawn[i]->non_finite > 0) gp << " (" << drawn[i]->non_finite << " non-finite)";
      gp << "'";
    }
    gp << "\n";
  };
  panel("loss", "top right", {&series[0], &series[1]});
  panel("val accuracy", "bottom right", {&series[2]});
  gp << "unset multiplot\n";
  try {
    io::atomic_write(svg_path, [&](int fd) {
      const ProgramResult r = run_program({"gnuplot"}, gp.str(), fd);
      if (!r.started) throw Error(r.error + " (apt-get install gnuplot-nox)");
      if (r.exit_code != 0)
        throw Error("gnuplot failed (exit code " + std::to_string(r.exit_code) + ")" +
                    (r.error.empty() ? "" : ": " + r.error));
    });
  } catch (const Error& e) {
    if (why) *why = e.what();
    return false;
  }
  return true;
}

}  // namespace tandem::launch
