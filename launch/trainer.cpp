// The epoch loop (see trainer.h). Reading order: setup (ranks, threads, model, optimizer,
// scheduler, data, resume), then one epoch of training, evaluation, and the checkpoint.
#include "launch/trainer.h"

#include <sys/resource.h>  // getrusage
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "framework/autograd/grad_mode.h"
#include "framework/data/device_prefetcher.h"
#include "framework/io/checkpoint.h"
#include "framework/ops/ops.h"
#include "framework/optim/factory.h"
#include "kernels/cpu/threads.h"
#include "kernels/device/caching_allocator.h"
#include "launch/criterion.h"
#include "launch/evaluate.h"
#include "launch/metrics_log.h"
#include "launch/mixed_precision.h"
#include "launch/progress.h"
#include "launch/rank_agreement.h"
#include "launch/run_directory.h"
#include "launch/stop_signal.h"
#include "launch/training_setup.h"
#include "parallel/ddp.h"
#include "parallel/distributed.h"
#include "parallel/distributed_sampler.h"
#include "parallel/process_group_auto.h"
#include "parallel/rank_helpers.h"

namespace tandem::launch {

namespace {
// metrics.jsonl's extra fields for a segmentation epoch (none for classification).
nlohmann::ordered_json segmentation_record(const EvalResult& ev) {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  if (!ev.segmentation) return j;
  j["val_iou"] = metric_json(ev.mean_iou);
  j["val_dice"] = metric_json(ev.mean_dice);
  j["val_class_iou"] = metric_list(ev.class_iou);
  j["val_class_dice"] = metric_list(ev.class_dice);
  return j;
}

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// Per-step seed of the default generator (dropout): a function of (seed, rank, step), so a
// resumed run draws exactly what the uninterrupted run drew, with no generator state to carry.
uint64_t step_seed(uint64_t seed, int rank, int64_t step) {
  uint64_t z =
      seed * 0x9e3779b97f4a7c15ULL + uint64_t(rank) * 0xbf58476d1ce4e5b9ULL + uint64_t(step) + 1;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Fault injection for the resume tests (tests/cli): TANDEM_TEST_KILL_AT_STEP=N makes rank 0
// die with SIGKILL after optimizer step N (a crash); TANDEM_TEST_SIGTERM_AT_STEP=N sends every
// rank SIGTERM there (a scheduler preemption); TANDEM_TEST_HANG_AT_STEP=N makes every rank's
// step N never finish (only signals end it). Unset in normal runs.
void crash_test_hook(int rank, int64_t global_step) {
  static const char* kill_at = std::getenv("TANDEM_TEST_KILL_AT_STEP");
  static const char* term_at = std::getenv("TANDEM_TEST_SIGTERM_AT_STEP");
  static const char* hang_at = std::getenv("TANDEM_TEST_HANG_AT_STEP");
  if (kill_at && rank == 0 && global_step == std::atoll(kill_at)) std::raise(SIGKILL);
  if (term_at && global_step == std::atoll(term_at)) std::raise(SIGTERM);
  if (hang_at && global_step == std::atoll(hang_at)) {
    std::fprintf(stderr, "test: step %lld hangs\n", (long long)global_step);
    std::fflush(stderr);
    for (;;) ::pause();
  }
}

}  // namespace

int train(const RunConfig& cfg, const TrainOptions& options) {
  const parallel::World& world = parallel::init_distributed();
  const int rank = world.rank, size = world.size;
  StopSignalHandlers stop_handlers(rank, size);
  const bool main_rank = rank == 0;
  std::shared_ptr<parallel::ProcessGroup> pg = world.process_group;
  kernels::cpu::set_cpu_threads(int(cfg.training.threads));
  // Ranks that differ would corrupt memory or hang in a collective: they agree first.
  require_same_on_all_ranks(pg.get(), "run config", config_entries(cfg, /*rank_local=*/false),
                            "start every rank with the same config file and --set overrides "
                            "(only data.root, data.prefetch and training.threads may differ)");

  // --- the run directory: rank 0 writes it, so rank 0 locks it for the whole run ---------------
  RunDirectory run_dir(cfg.checkpoint.dir, cfg.checkpoint.keep_last);
  {
    std::unique_ptr<Error> refused;  // rank 0's, shared so that every rank ends the same way
    if (main_rank) {
      try {
        const RunDirectory::Cleanup removed = run_dir.claim();
        if (removed.files > 0)
          std::printf("removed %lld temporary file(s) (%.1f MB) left in %s by an interrupted run\n",
                      (long long)removed.files, double(removed.bytes) / 1e6, run_dir.dir().c_str());
      } catch (const Error& e) {
        refused = std::make_unique<Error>(e);
      }
    }
    if (parallel::sum_over_ranks(pg.get(), {refused ? 1.0 : 0.0})[0] > 0)
      throw parallel::AllRanksError(
          refused ? refused->what() : "rank 0 could not lock the run directory",
          refused ? refused->hint() : "");
  }
  const Device device = use_device(cfg, world);
  const std::string devices = rank_devices(pg.get(), device);  // collective: every rank
  MixedPrecision mp(cfg.training.precision, device);  // autocast and, for fp16, the loss scaler

  // --- model, optimizer, scheduler ------------------------------------------------------------
  // The model is built and initialised on the CPU (the same numbers on every device), then moved.
  nn::ModulePtr model = build_model_from_config(cfg);
  if (!cfg.init_from.empty())
    load_weights(*model, cfg.init_from, cfg.init_strict, main_rank ? stdout : nullptr);
  model->to(device);
  nn::ModulePtr net = model;
  std::shared_ptr<parallel::DistributedDataParallel> ddp;
  if (size > 1) {
    parallel::DdpOptions o;
    o.bucket_cap_mb = cfg.distributed.bucket_cap_mb;
    o.find_unused_parameters = cfg.distributed.find_unused_parameters;
    o.gradient_as_bucket_view = cfg.distributed.gradient_as_bucket_view;
    o.broadcast_buffers = cfg.distributed.broadcast_buffers;
    // Gradients go through the configured backend; metrics and barriers stay on MPI (CPU).
    ddp = std::make_shared<parallel::DistributedDataParallel>(
        model, parallel::make_process_group(cfg.distributed.backend, world, device), o);
    net = ddp;
  }
  auto train_set = make_dataset(cfg, "train");
  auto test_set = make_dataset(cfg, "test");
  require_same_on_all_ranks(
      pg.get(), "datasets",
      {{"train examples", std::to_string(train_set->size())},
       {"test examples", std::to_string(test_set->size())}},
      "every rank must read the same dataset: check data.root and its files on each node");
  if (train_set->size() == 0)
    throw parallel::AllRanksError("data: the training set (" + cfg.data.dataset + ") is empty",
                                  "check data.root and its files, or data.synthetic_train_size");
  parallel::DistributedSampler sampler(train_set->size(), size, rank, /*shuffle=*/true,
                                       uint64_t(cfg.seed), cfg.data.sampler_drop_last);
  data::DataLoader train_loader(train_set, loader_options(cfg, true, device));
  data::DataLoader test_loader(test_set, loader_options(cfg, false, device));
  const Criterion criterion(cfg, train_set->segmentation(), train_set->num_classes(), device);
  const int64_t per_rank = sampler.num_samples();
  int64_t steps_per_epoch = cfg.data.drop_last
                                ? per_rank / cfg.data.batch_size
                                : (per_rank + cfg.data.batch_size - 1) / cfg.data.batch_size;
  if (cfg.training.max_steps_per_epoch > 0)
    steps_per_epoch = std::min(steps_per_epoch, cfg.training.max_steps_per_epoch);

  auto optimizer = optimizer_from_config(cfg, model->parameters());
  const std::string interval = optim::scheduler_interval(cfg.scheduler);
  const int64_t sched_total =
      interval == "step" ? cfg.training.epochs * steps_per_epoch : cfg.training.epochs;
  std::unique_ptr<optim::LRScheduler> scheduler =
      scheduler_from_config(cfg, *optimizer, sched_total, steps_per_epoch);

  // --- resume -----------------------------------------------------------------------------------
  int64_t start_epoch = 0, global_step = 0, first_batch = 0;
  double resumed_loss_sum = 0, resumed_loss_count = 0;  // the resumed epoch's steps before
  double best_metric = 0;
  bool has_best = false;
  std::string resume_path;
  if (options.resume == "auto") {
    if (run_dir.has_checkpoint()) resume_path = run_dir.last_path();
  } else if (options.resume != "never") {
    resume_path = options.resume;
  }
  std::vector<std::string> resume_notes;  // rank 0 prints them
  if (!resume_path.empty()) {
    io::Checkpoint ck = io::load_checkpoint(resume_path);
    check_resume(ck, resume_path, *optimizer, scheduler.get(), steps_per_epoch, size);
    ResumeRun run;
    run.steps_per_epoch = steps_per_epoch;
    // The checkpoint's epoch length: recorded, or (older checkpoints) that of this config on the
    // checkpoint's world size.
    run.checkpoint_steps_per_epoch =
        ck.steps_per_epoch > 0 ? ck.steps_per_epoch
                               : steps_per_epoch_for(cfg, train_set->size(), int(ck.world_size));
    run.world_size = size;
    run.per_step_scheduler = scheduler && interval == "step";
    run.scheduler_needs_metric = scheduler && scheduler->needs_metric();
    const ResumePlan plan = plan_resume(ck, resume_path, cfg, run);
    model->load_state_dict(ck.model, /*strict=*/true);
    optimizer->load_state_dict(ck.optimizer);
    if (scheduler && plan.scheduler_replay_steps >= 0)
      advance_new_scheduler(cfg, *model, *optimizer, *scheduler, sched_total, steps_per_epoch,
                            plan.scheduler_replay_steps);
    else if (scheduler && !ck.scheduler.is_none())
      scheduler->load_state_dict(ck.scheduler);
    mp.load_scaler_state(ck.scaler);
    start_epoch = plan.start_epoch;
    global_step = plan.global_step;
    first_batch = plan.first_batch;
    if (first_batch > 0 && main_rank) {  // summed over all ranks: rank 0 carries them
      resumed_loss_sum = ck.epoch_loss_sum;
      resumed_loss_count = ck.epoch_loss_count;
    }
    if (plan.keep_best) {
      best_metric = ck.best_metric;
      has_best = ck.has_best_metric;
    }
    resume_notes = plan.notes;
  }
  require_same_on_all_ranks(
      pg.get(), "resume point",
      {{"resume from", resume_path.empty() ? "a fresh start"
                                           : "epoch " + std::to_string(start_epoch + 1) +
                                                 ", step " + std::to_string(global_step)},
       {"resumed weights (digest)",
        resume_path.empty() ? "none" : state_digest(model->state_dict())}},
      "every rank must find the same checkpoint: give checkpoint.dir on a file system all ranks "
      "share, or the same --resume PATH to every rank");
  if (main_rank && !resume_path.empty()) {
    std::printf("resuming from %s: epoch %lld, step %lld\n", resume_path.c_str(),
                (long long)start_epoch + 1, (long long)global_step);
    for (const std::string& note : resume_notes) std::printf("%s\n", note.c_str());
  }
  // A finished run (rerun with the same epochs): nothing trains, so nothing in its folder is
  // rewritten either; config.yaml keeps the config that trained the weights.
  if (start_epoch >= cfg.training.epochs) {
    if (main_rank)
      std::printf(
          "nothing to train: the run in %s has trained %lld epoch(s) of training.epochs %lld; "
          "raise training.epochs to train on\n",
          cfg.checkpoint.dir.c_str(), (long long)start_epoch, (long long)cfg.training.epochs);
    if (pg) pg->barrier();
    return 0;
  }

  const std::string config_yaml = to_yaml(cfg);
  std::unique_ptr<MetricsLog> metrics;
  if (main_rank) {
    run_dir.write_config(config_yaml);
    metrics = std::make_unique<MetricsLog>(run_dir.path("metrics.jsonl"), start_epoch, global_step);
    if (metrics->dropped() > 0)
      std::printf(
          "note: dropped %lld line(s) of metrics.jsonl past the resume point (epoch %lld, "
          "step %lld)\n",
          (long long)metrics->dropped(), (long long)start_epoch + 1, (long long)global_step);
    std::printf(
        "tandem train %s\n  model: %s (%lld parameters)\n  world size %d, %s, %lld "
        "thread(s) per rank\n"
        "  batch %lld per rank, %lld global; %lld steps per epoch; %lld epochs\n  run directory: "
        "%s\n",
        cfg.source.c_str(), cfg.model.at("name").to_string().c_str(),
        (long long)model->num_parameters(), size, devices.c_str(), (long long)cfg.training.threads,
        (long long)cfg.data.batch_size, (long long)cfg.data.batch_size * size,
        (long long)steps_per_epoch, (long long)cfg.training.epochs, cfg.checkpoint.dir.c_str());
    std::fflush(stdout);
  }
  Progress progress(main_rank, cfg.training.log_every);

  auto make_checkpoint = [&](int64_t epoch_done, int64_t step_in_epoch, bool is_best,
                             std::pair<double, double> epoch_loss = {0, 0}) {
    io::Checkpoint ck;
    ck.epoch = epoch_done;
    ck.global_step = global_step;
    ck.step_in_epoch = step_in_epoch;
    ck.epoch_loss_sum = epoch_loss.first;
    ck.epoch_loss_count = epoch_loss.second;
    ck.model = model->state_dict();
    ck.optimizer = optimizer->state_dict();
    ck.scheduler = scheduler ? scheduler->state_dict() : Value();
    ck.scaler = mp.scaler_state();
    ck.best_metric = best_metric;
    ck.has_best_metric = has_best;
    ck.is_best = is_best;
    ck.monitor = cfg.checkpoint.monitor;
    ck.mode = cfg.checkpoint.mode;
    ck.steps_per_epoch = steps_per_epoch;
    ck.rng["default"] = default_generator().get_state();
    ck.config_yaml = config_yaml;
    ck.world_size = size;
    return ck;
  };
  auto current_lr = [&] { return optimizer->lr(0); };

  // --- epochs -----------------------------------------------------------------------------------
  for (int64_t epoch = start_epoch; epoch < cfg.training.epochs; ++epoch) {
    sampler.set_epoch(epoch);
    std::vector<int64_t> indices = sampler.indices();
    train_loader.start_epoch(indices, epoch, first_batch);
    net->train();
    progress.start_epoch(epoch, cfg.training.epochs, steps_per_epoch);
    const auto epoch_start = Clock::now();
    double loss_sum = 0, loss_count = 0;
    if (first_batch > 0) {
      loss_sum = resumed_loss_sum;
      loss_count = resumed_loss_count;
    }
    int64_t images = 0;
    bool stop_after_epoch = false;
    data::Batch batch;
    data::DevicePrefetcher batches(train_loader, device);  // batch k+1's copy overlaps step k
    for (int64_t step = first_batch; step < steps_per_epoch && batches.next(batch); ++step) {
      default_generator().manual_seed(step_seed(uint64_t(cfg.seed), rank, global_step));
      optimizer->zero_grad();
      Tensor loss;
      {
        const auto amp = mp.region();
        loss = criterion(forward_batch(*net, batch.inputs), batch.targets);
      }
      mp.backward(loss);
      mp.step(*optimizer, pg.get(), cfg.training.clip_grad_norm);
      ++global_step;
      if (scheduler && interval == "step") scheduler->step();
      const double l = loss.item();
      loss_sum += l * double(batch.targets.numel());
      loss_count += double(batch.targets.numel());
      images += batch.inputs.size(0) * size;
      if (global_step % cfg.training.log_every == 0) {
        const double global_loss = parallel::mean_over_ranks(pg.get(), {l})[0];
        if (main_rank) metrics->step(epoch, global_step, global_loss, current_lr());
      }
      progress.update(step + 1, l, current_lr(), images);
      crash_test_hook(rank, global_step);
      // Every rank must agree to stop at the same step: one small allreduce of (stop requested,
      // loss not finite) per step.
      const auto flags = parallel::sum_over_ranks(
          pg.get(), {stop_requested() ? 1.0 : 0.0, std::isfinite(l) ? 0.0 : 1.0});
      if (flags[1] > 0 && cfg.training.stop_on_nan) {
        // Nothing is saved: the weights are broken, and the last checkpoint on disk is not.
        char what[200];
        std::snprintf(what, sizeof what,
                      "the training loss is %s at epoch %lld, step %lld (optimizer step %lld): "
                      "stopping (training.stop_on_nan)",
                      std::isfinite(l) ? "not finite on another rank"
                      : std::isnan(l)  ? "nan"
                      : l > 0          ? "inf"
                                       : "-inf",
                      (long long)epoch + 1, (long long)step + 1, (long long)global_step);
        throw parallel::AllRanksError(
            what,
            "lower optimizer.lr, check the data and the init_from weights, or set "
            "training.stop_on_nan: false to train on; the checkpoints on disk are from "
            "before");
      }
      if (flags[0] > 0) {
        if (step + 1 == steps_per_epoch) {  // the epoch is complete: finish it, then stop
          stop_after_epoch = true;
          break;
        }
        // The epoch's training loss so far, for the resumed epoch's record (every rank is here:
        // the stop is agreed).
        const auto partial = parallel::sum_over_ranks(pg.get(), {loss_sum, loss_count});
        if (main_rank) {
          run_dir.save(make_checkpoint(epoch, step + 1, false, {partial[0], partial[1]}), false);
          std::printf("\nstopped by signal after step %lld: wrote %s\n", (long long)global_step,
                      run_dir.last_path().c_str());
        }
        if (pg) pg->barrier();
        return 0;
      }
    }
    first_batch = 0;
    const double train_seconds = seconds_since(epoch_start);
    const auto tl = parallel::sum_over_ranks(pg.get(), {loss_sum, loss_count});
    const double train_loss = tl[1] > 0 ? tl[0] / tl[1] : NAN;
    // Every rank evaluates rank 0's model (the one the checkpoint holds), so `tandem eval` of a
    // saved checkpoint reproduces the recorded numbers.
    if (ddp && cfg.distributed.broadcast_buffers) ddp->sync_buffers();
    EvalResult ev;
    {
      const auto amp = mp.region();  // evaluated as trained
      ev = evaluate(*model, test_loader, device, pg.get(), rank, size, criterion.ignore_index());
    }
    const double monitored = ev.metric(cfg.checkpoint.monitor);
    if (scheduler && interval == "epoch") {
      if (scheduler->needs_metric())
        scheduler->step(monitored);
      else
        scheduler->step();
    }
    // A non-finite metric is never the best (and never blocks a later finite one).
    const bool better = std::isfinite(monitored) &&
                        (!has_best || (cfg.checkpoint.mode == "max" ? monitored > best_metric
                                                                    : monitored < best_metric));
    if (better) {
      best_metric = monitored;
      has_best = true;
    }
    const double ips = train_seconds > 0 ? double(images) / train_seconds : 0;
    if (main_rank) {
      metrics->epoch(epoch, train_loss, ev.loss, ev.accuracy, ips, train_seconds,
                     segmentation_record(ev));
      const bool epoch_file = (epoch + 1) % cfg.checkpoint.every_epochs == 0;
      run_dir.save(make_checkpoint(epoch + 1, 0, better), epoch_file);
      char summary[320], seg[96] = "";
      if (ev.segmentation)
        std::snprintf(seg, sizeof seg, ", mean IoU %.4f, mean Dice %.4f", ev.mean_iou,
                      ev.mean_dice);
      std::snprintf(summary, sizeof summary,
                    "epoch %lld/%lld: train loss %.4f, test loss %.4f, test %saccuracy %.2f%%%s%s, "
                    "%.0f img/s, %.1fs",
                    (long long)epoch + 1, (long long)cfg.training.epochs, train_loss, ev.loss,
                    ev.segmentation ? "pixel " : "", 100 * ev.accuracy, seg,
                    better ? " (best)" : "", ips, train_seconds);
      progress.end_epoch(summary);
      if (device.is_cuda())  // once per epoch: memory held by tensors and by the cache
        std::printf("  %s memory: %s\n", device.str().c_str(),
                    kernels::device::device_allocator().summary(device.index).c_str());
    }
    if (stop_after_epoch) {
      parallel::print_rank0("stopped by signal at the end of epoch %lld: wrote %s\n",
                            (long long)epoch + 1, run_dir.last_path().c_str());
      if (pg) pg->barrier();
      return 0;
    }
  }
  // Peak resident memory, the largest over ranks (collective), for sizing machines and jobs.
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);  // ru_maxrss: KiB on Linux
  const double peak_mib = parallel::max_over_ranks(pg.get(), {double(usage.ru_maxrss) / 1024.0})[0];
  if (main_rank) {
    std::printf("peak resident memory: %.1f MiB%s\n", peak_mib, size > 1 ? " (largest rank)" : "");
    std::string why;
    if (plot_metrics(run_dir.path("metrics.jsonl"), run_dir.path("metrics.svg"), &why))
      std::printf("curves: %s\n", run_dir.path("metrics.svg").c_str());
    else
      std::printf("note: no metrics plot: %s\n", why.c_str());
  }
  if (pg) pg->barrier();
  return 0;
}

}  // namespace tandem::launch
