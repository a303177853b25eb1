// The run directory's safety parts, one process: the lock refuses a second holder naming the
// first's PID and host and is free again once released; claim() removes only tandem's stale
// temporaries; metrics.jsonl is cut back to a resume point and spells non-finite values out;
// run_program passes arguments verbatim (no shell) and reports a missing program.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "launch/metrics_log.h"
#include "launch/run_directory.h"
#include "launch/run_lock.h"
#include "launch/subprocess.h"
#include "tests/error_text.h"
#include "tests/temp_dir.h"

using tandem::testing::TempDir;
using namespace tandem;
using namespace tandem::launch;
namespace fs = std::filesystem;

namespace {

void write_file(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

std::string read_file(const std::string& path) {
  std::stringstream ss;
  ss << std::ifstream(path).rdbuf();
  return ss.str();
}

}  // namespace

TEST(RunLock, SecondHolderIsRefusedNamingTheFirst) {
  const TempDir temp("lock");
  const std::string& dir = temp.path();
  char host[256] = "";
  ::gethostname(host, sizeof host - 1);
  {
    RunLock first(dir);
    // flock locks belong to open file descriptions: a second open in this process conflicts too.
    const std::string err = tandem::testing::error_text([&] { RunLock second(dir); });
    EXPECT_NE(err.find("run directory " + dir + " is in use by another tandem run (pid " +
                       std::to_string(::getpid()) + " on host " + host + ")"),
              std::string::npos)
        << err;
  }
  EXPECT_NO_THROW(RunLock again(dir));  // released with its holder
}

TEST(RunDirectory, ClaimRemovesOnlyTandemsStaleTemporaries) {
  const TempDir temp("claim");
  const std::string& dir = temp.path();
  const std::vector<std::string> stale = {
      ".last.safetensors.tmp.Ab12Cd", ".epoch_0007.safetensors.tmp.000000",
      ".config.yaml.tmp.zzZZ99", ".metrics.svg.tmp.a1b2c3", "metrics.svg.gp"};
  const std::vector<std::string> kept = {
      ".notes.txt.tmp.Ab12Cd",       // not a file tandem writes
      ".last.safetensors.tmp.Ab12",  // not mkstemp's six characters
      ".epoch_x.safetensors.tmp.Ab12Cd",
      "last.safetensors.tmp.Ab12Cd",
      "last.safetensors",
      ".tandem.lock"};
  for (const auto& f : stale) write_file(dir + "/" + f, "0123456789");
  for (const auto& f : kept) write_file(dir + "/" + f, "keep");
  RunDirectory run_dir(dir, 3);
  const RunDirectory::Cleanup removed = run_dir.claim();
  EXPECT_EQ(removed.files, int64_t(stale.size()));
  EXPECT_EQ(removed.bytes, int64_t(10 * stale.size()));
  for (const auto& f : stale) EXPECT_FALSE(fs::exists(dir + "/" + f)) << f;
  for (const auto& f : kept) EXPECT_TRUE(fs::exists(dir + "/" + f)) << f;
  // The directory is now locked: another claimant is refused and removes nothing.
  write_file(dir + "/.best.safetensors.tmp.Qq11Ww", "in flight");
  RunDirectory other(dir, 3);
  EXPECT_NE(tandem::testing::error_text([&] { other.claim(); }).find("in use"), std::string::npos);
  EXPECT_TRUE(fs::exists(dir + "/.best.safetensors.tmp.Qq11Ww"));
}

TEST(MetricsLog, ResumeCutsRecordsPastTheResumePoint) {
  const TempDir temp("metrics");
  const std::string path = temp.path() + "/metrics.jsonl";
  write_file(path,
             "{\"type\":\"step\",\"epoch\":0,\"step\":2,\"loss\":1,\"lr\":0.1}\n"
             "{\"type\":\"step\",\"epoch\":0,\"step\":4,\"loss\":1,\"lr\":0.1}\n"
             "{\"type\":\"epoch\",\"epoch\":0,\"train_loss\":1}\n"
             "{\"type\":\"step\",\"epoch\":1,\"step\":6,\"loss\":1,\"lr\":0.1}\n"
             "{\"type\":\"epoch\",\"epoch\":1,\"train_loss\":1}\n"
             "{\"type\":\"note\",\"text\":\"kept\"}\n"
             "{\"type\":\"epoch\",\"ep");  // torn by a kill
  {
    MetricsLog log(path, /*epochs_done=*/1, /*global_step=*/4);
    log.epoch(1, NAN, INFINITY, -INFINITY, 1, 2);
  }
  EXPECT_EQ(read_file(path),
            "{\"type\":\"step\",\"epoch\":0,\"step\":2,\"loss\":1,\"lr\":0.1}\n"
            "{\"type\":\"step\",\"epoch\":0,\"step\":4,\"loss\":1,\"lr\":0.1}\n"
            "{\"type\":\"epoch\",\"epoch\":0,\"train_loss\":1}\n"
            "{\"type\":\"note\",\"text\":\"kept\"}\n"
            "{\"type\":\"epoch\",\"epoch\":1,\"train_loss\":\"nan\",\"val_loss\":\"inf\","
            "\"val_accuracy\":\"-inf\",\"images_per_s\":1.0,\"seconds\":2.0}\n");
  { MetricsLog fresh(path, 0, 0); }
  EXPECT_EQ(read_file(path), "{\"type\":\"note\",\"text\":\"kept\"}\n");
}

TEST(MetricsLog, NonFiniteValuesRoundTrip) {
  for (double v : {0.5, -2.0, double(INFINITY), -double(INFINITY)})
    EXPECT_EQ(metric_value(metric_json(v)), v);
  EXPECT_TRUE(std::isnan(metric_value(metric_json(NAN))));
  EXPECT_EQ(metric_json(NAN), "nan");
  EXPECT_TRUE(std::isnan(metric_value(nlohmann::json())));  // null, as older files wrote
}

TEST(RunProgram, ArgumentsReachTheProgramVerbatim) {
  const TempDir temp("program");
  const std::string path = temp.path() + "/out";
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ASSERT_GE(fd, 0);
  const std::string hostile = "a'b\"; touch PWNED $(touch PWNED) `touch PWNED`";
  const ProgramResult r = run_program({"printf", "%s|", hostile}, "", fd);
  ::close(fd);
  EXPECT_TRUE(r.started);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(read_file(path), hostile + "|");
  EXPECT_FALSE(fs::exists("PWNED"));
  // stdin carries the input; a failing program's stderr comes back in `error`.
  const ProgramResult cat = run_program({"sh", "-c", "cat >&2; exit 3"}, "why it failed");
  EXPECT_EQ(cat.exit_code, 3);
  EXPECT_EQ(cat.error, "why it failed");
  const ProgramResult missing = run_program({"tandem-no-such-program"}, "");
  EXPECT_FALSE(missing.started);
  EXPECT_NE(missing.error.find("is not installed"), std::string::npos) << missing.error;
}

// last.safetensors is the commit point: it is written after the epoch file and best, so a crash
// between the writes never leaves a last that says "this epoch was the best" while
// best.safetensors still holds an older epoch.
TEST(RunDirectory, LastIsWrittenAfterEpochAndBest) {
  const TempDir temp("order");
  RunDirectory run(temp.path(), 3);
  EXPECT_EQ(run.save_order(4, true, true),
            (std::vector<std::string>{run.epoch_path(4), run.best_path(), run.last_path()}));
  EXPECT_EQ(run.save_order(4, false, true),
            (std::vector<std::string>{run.best_path(), run.last_path()}));
  EXPECT_EQ(run.save_order(4, true, false),
            (std::vector<std::string>{run.epoch_path(4), run.last_path()}));
  EXPECT_EQ(run.save_order(4, false, false), (std::vector<std::string>{run.last_path()}));
}

TEST(RunDirectory, AFailedBestWriteLeavesTheOldLast) {
  const TempDir temp("failed_best");
  RunDirectory run(temp.path(), 3);
  io::Checkpoint ck;
  ck.epoch = 1;
  run.save(ck, true);
  ASSERT_TRUE(fs::exists(run.last_path()));
  // best.safetensors cannot be written (a non-empty folder in its place): the save of epoch 2
  // fails at best, after the epoch file and before last, as a crash there would.
  fs::create_directories(run.best_path() + "/x");
  ck.epoch = 2;
  ck.is_best = true;
  EXPECT_THROW(run.save(ck, true), std::exception);
  EXPECT_TRUE(fs::exists(run.epoch_path(2)));
  EXPECT_EQ(io::load_checkpoint(run.last_path()).epoch, 1);  // resume redoes epoch 2
}
