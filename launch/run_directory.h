// The run directory (checkpoint.dir): epoch_NNNN.safetensors every `every_epochs`, last.safetensors
// (always the newest state, also written on SIGINT/SIGTERM), best.safetensors (by monitor/mode),
// config.yaml and metrics.jsonl. Old epoch files are pruned to `keep_last` only after the new
// file is safely on disk; best.safetensors is never pruned. The process that writes the
// directory claims it first: an exclusive lock for the whole run (run_lock.h), then the removal of
// temporary files that killed writes left behind.
#pragma once

#include <memory>
#include <string>

#include "framework/io/checkpoint.h"
#include "launch/run_lock.h"

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

  // Locks the directory for this process (throws naming the holder if another run has it), then
  // removes stale temporary files of tandem's own atomic writes (".last.safetensors.tmp.Ab12Cd",
  // ...), which only a killed writer leaves: with the lock held, no live run is writing one.
  // Returns how many were removed and their bytes.
  struct Cleanup {
    int64_t files = 0, bytes = 0;
  };
  Cleanup claim();

  // Writes last (and the epoch file when `epoch_file`, and best when ckpt.is_best), then prunes.
  void save(const io::Checkpoint& ckpt, bool epoch_file);
  void write_config(const std::string& yaml) const;

 private:
  void prune() const;
  std::string dir_;
  int64_t keep_last_;
  std::unique_ptr<RunLock> lock_;
};

}  // namespace tandem::launch
