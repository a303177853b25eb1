// Run directory layout and pruning.
#include "launch/run_directory.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <vector>

#include "framework/io/atomic_write.h"

namespace fs = std::filesystem;

namespace tandem::launch {

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

void RunDirectory::save(const io::Checkpoint& ckpt, bool epoch_file) {
  // Each save is atomic; last goes first so a crash in between still leaves the newest state.
  io::save_checkpoint(ckpt, last_path());
  if (epoch_file) io::save_checkpoint(ckpt, epoch_path(ckpt.epoch));
  if (ckpt.is_best) io::save_checkpoint(ckpt, best_path());
  if (epoch_file) prune();
}

void RunDirectory::write_config(const std::string& yaml) const {
  io::atomic_write_file(path("config.yaml"), yaml);
}

void RunDirectory::prune() const {
  if (keep_last_ <= 0) return;
  std::vector<std::string> epochs;
  for (const auto& entry : fs::directory_iterator(dir_)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("epoch_", 0) == 0 && name.size() > 12 &&
        name.substr(name.size() - 12) == ".safetensors")
      epochs.push_back(entry.path().string());
  }
  std::sort(epochs.begin(), epochs.end());
  for (size_t i = 0; i + size_t(keep_last_) < epochs.size(); ++i) fs::remove(epochs[i]);
}

}  // namespace tandem::launch
