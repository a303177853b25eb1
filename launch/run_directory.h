// The run directory (checkpoint.dir): epoch_NNNN.safetensors every `every_epochs`, last.safetensors
// (the newest state, also written on SIGINT/SIGTERM; written after the others, as the commit),
// best.safetensors (by monitor/mode), config.yaml and metrics.jsonl. Old epoch files are pruned to
// `keep_last` only after the new file is safely on disk; best.safetensors is never pruned. The
// process that writes the directory claims it first: an exclusive lock for the whole run
// (run_lock.h), then the removal of temporary files that killed writes left behind.
#pragma once

#include <memory>
#include <string>
#include <vector>

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

  // Writes the files of save_order, each atomically, then prunes the epoch files.
  void save(const io::Checkpoint& ckpt, bool epoch_file);
  // The files one save writes, in order: the epoch file (when `epoch_file`), best (when
  // `is_best`), and last.safetensors always, last of all: last is the commit point that resume
  // reads, so a crash between the writes never leaves a last ahead of best or the epoch file.
  std::vector<std::string> save_order(int64_t epoch, bool epoch_file, bool is_best) const;
  void write_config(const std::string& yaml) const;

 private:
  void prune(int64_t written_epoch) const;
  std::string dir_;
  int64_t keep_last_;
  std::unique_ptr<RunLock> lock_;
};

}  // namespace tandem::launch
