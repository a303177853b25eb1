// Run directory layout and pruning.
#include "launch/run_directory.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <vector>

#include "framework/io/atomic_write.h"

namespace fs = std::filesystem;

namespace tandem::launch {
namespace {

// True for the files tandem writes into a run directory.
bool is_run_file(const std::string& name) {
  static const char* const fixed[] = {"config.yaml", "last.safetensors", "best.safetensors",
                                      "metrics.jsonl", "metrics.svg"};
  for (const char* f : fixed)
    if (name == f) return true;
  const std::string prefix = "epoch_", suffix = ".safetensors";
  if (name.size() <= prefix.size() + suffix.size() || name.rfind(prefix, 0) != 0 ||
      name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0)
    return false;
  for (size_t i = prefix.size(); i < name.size() - suffix.size(); ++i)
    if (!std::isdigit(static_cast<unsigned char>(name[i]))) return false;
  return true;
}

// io::atomic_write's temporary ".<target>.tmp.XXXXXX" (mkstemp: six letters or digits) for one of
// those files, or the metrics.svg.gp / metrics.svg.dat that earlier versions' plotting left.
bool is_stale_temp(const std::string& name) {
  if (name == "metrics.svg.gp" || name == "metrics.svg.dat") return true;
  const std::string marker = ".tmp.";
  if (name.size() < 1 + marker.size() + 6 || name[0] != '.') return false;
  const size_t at = name.size() - 6 - marker.size();
  if (name.compare(at, marker.size(), marker) != 0) return false;
  for (size_t i = name.size() - 6; i < name.size(); ++i)
    if (!std::isalnum(static_cast<unsigned char>(name[i]))) return false;
  return is_run_file(name.substr(1, at - 1));
}

}  // namespace

RunDirectory::RunDirectory(std::string dir, int64_t keep_last)
    : dir_(std::move(dir)), keep_last_(keep_last) {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec)
    throw Error("cannot create run directory " + dir_ + ": " + ec.message(),
                "check checkpoint.dir");
}

std::string RunDirectory::epoch_path(int64_t epoch) const {
  char name[64];
  std::snprintf(name, sizeof name, "epoch_%04lld.safetensors", static_cast<long long>(epoch));
  return path(name);
}

bool RunDirectory::has_checkpoint() const { return fs::exists(last_path()); }

RunDirectory::Cleanup RunDirectory::claim() {
  if (!lock_) lock_ = std::make_unique<RunLock>(dir_);
  Cleanup removed;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir_, ec)) {
    if (!entry.is_regular_file(ec) || !is_stale_temp(entry.path().filename().string())) continue;
    std::error_code size_error;
    const auto bytes = entry.file_size(size_error);
    if (fs::remove(entry.path(), ec)) {
      ++removed.files;
      if (!size_error) removed.bytes += int64_t(bytes);
    }
  }
  return removed;
}

std::vector<std::string> RunDirectory::save_order(int64_t epoch, bool epoch_file,
                                                  bool is_best) const {
  // last.safetensors is the commit point, so it goes last: resume reads it, and a crash before it
  // is written resumes from the previous last, redoes the epoch and writes the epoch file and
  // best again. Written first, a crash after it would leave a last that says this epoch was the
  // best while best.safetensors still held an older one, and no resume would ever rewrite it.
  std::vector<std::string> order;
  if (epoch_file) order.push_back(epoch_path(epoch));
  if (is_best) order.push_back(best_path());
  order.push_back(last_path());
  return order;
}

void RunDirectory::save(const io::Checkpoint& ckpt, bool epoch_file) {
  for (const std::string& file : save_order(ckpt.epoch, epoch_file, ckpt.is_best))
    io::save_checkpoint(ckpt, file);  // each write atomic
  if (epoch_file) prune(ckpt.epoch);
}

void RunDirectory::write_config(const std::string& yaml) const {
  io::atomic_write_file(path("config.yaml"), yaml);
}

void RunDirectory::prune(int64_t written_epoch) const {
  if (keep_last_ <= 0) return;
  // Only epochs up to the one just written: a later one belongs to an earlier run in this folder
  // (--resume never), and keeping the newest by name would delete this run's own files.
  std::vector<std::string> epochs;
  for (int64_t e = written_epoch; e >= 0; --e)
    if (fs::exists(epoch_path(e))) epochs.insert(epochs.begin(), epoch_path(e));
  for (size_t i = 0; i + size_t(keep_last_) < epochs.size(); ++i) fs::remove(epochs[i]);
}

}  // namespace tandem::launch
