// The run directory (checkpoint.dir): epoch_NNNN.safetensors every `every_epochs`, last.safetensors
// (always the newest state, also written on SIGINT/SIGTERM), best.safetensors (by monitor/mode),
// config.yaml and metrics.jsonl. Old epoch files are pruned to `keep_last` only after the new
// file is safely on disk; best.safetensors is never pruned.
#pragma once

#include <optional>
#include <string>

#include "framework/io/checkpoint.h"

namespace tandem::launch {

class RunDirectory {
 public:
  RunDirectory(std::string dir, int64_t keep_last);
  const std::string& dir() const { return dir_; }
  std::string path(const std::string& file) const { return dir_ + "/" + file; }
  std::string last_path() const { return path("last.safetensors"); }
  std::string best_path() const { return path("best.safetensors"); }
  std::string epoch_path(int64_t epoch) const;  // epoch_0001.safetensors for epoch 1 (1-based)
  bool has_checkpoint() const;

  // Writes last (and the epoch file when `epoch_file`, and best when ckpt.is_best), then prunes.
  void save(const io::Checkpoint& ckpt, bool epoch_file);
  void write_config(const std::string& yaml) const;

 private:
  void prune() const;
  std::string dir_;
  int64_t keep_last_;
};

}  // namespace tandem::launch
