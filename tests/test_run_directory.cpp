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
#include <functional>
#include <sstream>

#include "framework/optim/factory.h"
#include "launch/metrics_log.h"
#include "launch/run_directory.h"
#include "launch/run_lock.h"
#include "launch/subprocess.h"
#include "launch/training_setup.h"
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

TEST(RunDirectory, PruningKeepsThisRunsNewestEpochs) {
  // An earlier run left epoch 3 here; a new run (--resume never) with keep_last 2 writes epochs
  // 1 and 2 and keeps both: pruning by name would delete its epoch 1 and keep the old epoch 3.
  const TempDir temp("prune");
  RunDirectory run(temp.path(), 2);
  io::Checkpoint ck;
  ck.epoch = 3;
  io::save_checkpoint(ck, run.epoch_path(3));
  for (int64_t e = 1; e <= 2; ++e) {
    ck.epoch = e;
    run.save(ck, true);
  }
  EXPECT_TRUE(fs::exists(run.epoch_path(1)));
  EXPECT_TRUE(fs::exists(run.epoch_path(2)));
  EXPECT_TRUE(fs::exists(run.epoch_path(3)));  // not this run's to delete
  ck.epoch = 4;  // this run passes it: now the newest two of its own are 3 (its own now) and 4
  io::save_checkpoint(ck, run.epoch_path(3));
  run.save(ck, true);
  EXPECT_FALSE(fs::exists(run.epoch_path(1)));
  EXPECT_FALSE(fs::exists(run.epoch_path(2)));
  EXPECT_TRUE(fs::exists(run.epoch_path(3)));
  EXPECT_TRUE(fs::exists(run.epoch_path(4)));
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

// --- resume planning (training_setup.h) ---------------------------------------------------------

namespace {

RunConfig resume_config(const std::string& extra = "") {
  return parse_config(
      "data: {dataset: synthetic}\n"
      "optimizer: {name: sgd, lr: 0.1, momentum: 0.9}\n"
      "scheduler: {name: cosineannealinglr, interval: step}\n"
      "training: {epochs: 3}\n" +
          extra,
      "run.yaml");
}

io::Checkpoint boundary_checkpoint(int64_t world_size, int64_t epoch, int64_t steps_per_epoch) {
  io::Checkpoint ck;
  ck.epoch = epoch;
  ck.global_step = epoch * steps_per_epoch;
  ck.world_size = world_size;
  ck.steps_per_epoch = steps_per_epoch;
  ck.best_metric = 0.75;
  ck.has_best_metric = true;
  ck.monitor = "accuracy";
  ck.mode = "max";
  return ck;
}

// What fn threw and its hint, "what | hint".
std::string error_and_hint(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return std::string(e.what()) + " | " + e.hint();
  }
  return "<no error>";
}

std::string notes_of(const ResumePlan& plan) {
  std::string all;
  for (const auto& n : plan.notes) all += n + "\n";
  return all;
}

}  // namespace

TEST(ResumePlan, SameWorldSizeContinuesMidEpoch) {
  io::Checkpoint ck = boundary_checkpoint(2, 1, 16);
  ck.global_step = 21;
  ck.step_in_epoch = 5;
  ResumeRun run{16, 16, 2, true, false};
  const ResumePlan plan = plan_resume(ck, "last.safetensors", resume_config(), run);
  EXPECT_EQ(plan.start_epoch, 1);
  EXPECT_EQ(plan.global_step, 21);
  EXPECT_EQ(plan.first_batch, 5);
  EXPECT_TRUE(plan.keep_best);
  EXPECT_EQ(plan.scheduler_replay_steps, -1);
  EXPECT_TRUE(plan.notes.empty()) << notes_of(plan);
}

// Mid-epoch on another world size: the epoch's data order cannot continue, so it is refused,
// naming both rank counts and how to resume.
TEST(ResumePlan, OtherWorldSizeMidEpochIsRefused) {
  io::Checkpoint ck = boundary_checkpoint(2, 1, 16);
  ck.global_step = 21;
  ck.step_in_epoch = 5;
  ResumeRun run{32, 16, 1, true, false};
  const std::string err =
      error_and_hint([&] { plan_resume(ck, "last.safetensors", resume_config(), run); });
  EXPECT_NE(err.find("last.safetensors: saved in the middle of epoch 2 (after 5 of its steps) by 2 "
                     "rank(s); this run has 1"),
            std::string::npos)
      << err;
  EXPECT_NE(err.find("mpirun -np 2"), std::string::npos) << err;
}

// At an epoch boundary on another world size, a per-step scheduler is rebuilt and advanced to
// where a run on the new world size has it; global_step stays the count of steps done.
TEST(ResumePlan, OtherWorldSizeAtEpochEndReplaysAPerStepScheduler) {
  const io::Checkpoint ck = boundary_checkpoint(2, 2, 16);
  ResumeRun run{32, 16, 1, true, false};
  ResumePlan plan = plan_resume(ck, "last.safetensors", resume_config(), run);
  EXPECT_EQ(plan.start_epoch, 2);
  EXPECT_EQ(plan.global_step, 32);
  EXPECT_EQ(plan.first_batch, 0);
  EXPECT_EQ(plan.scheduler_replay_steps, 64);  // 2 epochs x 32 steps
  EXPECT_NE(notes_of(plan).find("written by 2 rank(s), this run has 1"), std::string::npos);
  EXPECT_NE(notes_of(plan).find("advanced 64 steps"), std::string::npos) << notes_of(plan);
  // An epoch scheduler, or an unchanged epoch length, keeps the checkpoint's scheduler state.
  run.per_step_scheduler = false;
  EXPECT_EQ(plan_resume(ck, "last.safetensors", resume_config(), run).scheduler_replay_steps, -1);
  run = {16, 16, 1, true, false};
  EXPECT_EQ(plan_resume(ck, "last.safetensors", resume_config(), run).scheduler_replay_steps, -1);
  // A per-step scheduler that needs the metric cannot be replayed.
  run = {32, 16, 1, true, true};
  const std::string err =
      error_and_hint([&] { plan_resume(ck, "last.safetensors", resume_config(), run); });
  EXPECT_NE(err.find("cannot be carried over"), std::string::npos) << err;
  EXPECT_NE(err.find("mpirun -np 2"), std::string::npos) << err;
}

// A PyTorch checkpoint (tandem convert's .pt) has no global_step: it is derived from the epoch.
TEST(ResumePlan, TorchCheckpointCountsStepsFromItsEpoch) {
  io::Checkpoint ck;
  ck.epoch = 2;
  ck.has_run_position = false;
  const ResumePlan plan = plan_resume(ck, "export.pt", resume_config(), ResumeRun{16, 16, 2});
  EXPECT_EQ(plan.start_epoch, 2);
  EXPECT_EQ(plan.global_step, 32);
  EXPECT_EQ(plan.first_batch, 0);
  EXPECT_NE(notes_of(plan).find("export.pt records no global_step"), std::string::npos);
  EXPECT_NE(notes_of(plan).find("= step 32"), std::string::npos) << notes_of(plan);
}

// A best metric of another monitor or mode is not compared with this run's: best tracking starts
// afresh, with a note. An older checkpoint without `mode` has it in its stored config.
TEST(ResumePlan, BestMetricOfAnotherMonitorOrModeIsDropped) {
  const ResumeRun run{16, 16, 1};
  io::Checkpoint ck = boundary_checkpoint(1, 1, 16);
  EXPECT_TRUE(plan_resume(ck, "last.safetensors", resume_config(), run).keep_best);
  ResumePlan plan = plan_resume(ck, "last.safetensors",
                                resume_config("checkpoint: {monitor: loss, mode: min}\n"), run);
  EXPECT_FALSE(plan.keep_best);
  EXPECT_NE(notes_of(plan).find("tracked the best accuracy (mode max), this run's "
                                "checkpoint.monitor and mode are loss (mode min): best tracking "
                                "starts afresh"),
            std::string::npos)
      << notes_of(plan);
  EXPECT_FALSE(plan_resume(ck, "last.safetensors", resume_config("checkpoint: {mode: min}\n"), run)
                   .keep_best);
  ck.mode = "";
  ck.config_yaml = "checkpoint: {mode: min}\n";
  EXPECT_FALSE(plan_resume(ck, "last.safetensors", resume_config(), run).keep_best);
  EXPECT_TRUE(plan_resume(ck, "last.safetensors", resume_config("checkpoint: {mode: min}\n"), run)
                  .keep_best);
}

// The rebuilt scheduler is where a fresh run on the new epoch length has it, and finishes its
// cosine at the end of the run instead of overshooting the base lr.
TEST(ResumePlan, AdvancedSchedulerMatchesAFreshRun) {
  const RunConfig cfg = resume_config();
  auto model = build_model_from_config(cfg);
  // The old run: 1 epoch of 8 steps out of 3 epochs.
  auto old_opt = optim::make_optimizer(cfg.optimizer, model->parameters());
  auto old_sched = optim::make_scheduler(cfg.scheduler, *old_opt, 3 * 8, 8);
  for (int i = 0; i < 8; ++i) old_sched->step();
  // The new run, 4 steps per epoch: the optimizer state is loaded, the scheduler advanced.
  auto opt = optim::make_optimizer(cfg.optimizer, model->parameters());
  auto sched = optim::make_scheduler(cfg.scheduler, *opt, 3 * 4, 4);
  opt->load_state_dict(old_opt->state_dict());
  advance_new_scheduler(cfg, *model, *opt, *sched, 3 * 4, 4, 4);
  auto ref_opt = optim::make_optimizer(cfg.optimizer, model->parameters());
  auto ref = optim::make_scheduler(cfg.scheduler, *ref_opt, 3 * 4, 4);
  for (int i = 0; i < 4; ++i) ref->step();
  EXPECT_EQ(opt->lr(0), ref_opt->lr(0));
  EXPECT_EQ(sched->last_epoch(), ref->last_epoch());
  for (int i = 0; i < 8; ++i) {
    sched->step();
    ref->step();
    EXPECT_EQ(opt->lr(0), ref_opt->lr(0)) << "step " << i;
    EXPECT_LE(opt->lr(0), 0.1);
  }
  EXPECT_NEAR(opt->lr(0), 0.0, 1e-12);  // the cosine ends at eta_min
}
