#!/usr/bin/env bash
# Resume is exact: a 2-rank run killed with SIGKILL during epoch 2 of 3 and rerun with the same
# command, and a run stopped by SIGTERM mid-epoch and rerun, both end with a last.safetensors
# byte-identical to the uninterrupted run's. Then `tandem eval` of best.safetensors in one process
# prints the accuracy the run recorded for that epoch.
source "$(dirname "$0")/common.sh"
set -e
cfg="$TANDEM_SOURCE/configs/synthetic.yaml"
# Each run uses the relative directory "run" inside its own folder, so the resolved configs
# stored in the checkpoints are identical too and whole files can be compared byte for byte.
run() { mkdir -p "$1" && (cd "$1" && $MPIRUN -np 2 "$TANDEM" train "$cfg" --set checkpoint.dir=run > ../$(basename "$1").log 2>&1); }
run "$work/full" || { cat "$work/full.log"; fail "uninterrupted run failed"; }
# 512 examples / (16 x 2 ranks) = 16 steps per epoch: step 24 is in the middle of epoch 2.
set +e
TANDEM_TEST_KILL_AT_STEP=24 run "$work/crash"
rc=$?
set -e
[ "$rc" -ne 0 ] || fail "the killed run exited 0"
[ -f "$work/crash/run/last.safetensors" ] || fail "no last.safetensors after the crash"
run "$work/crash" || { cat "$work/crash.log"; fail "resumed run failed"; }
grep -q "resuming from" "$work/crash.log" || fail "the rerun did not resume"
cmp "$work/full/run/last.safetensors" "$work/crash/run/last.safetensors" || fail "resumed after a crash: last.safetensors differs"
echo "ok: crash + rerun == uninterrupted (byte-identical last.safetensors)"

TANDEM_TEST_SIGTERM_AT_STEP=21 run "$work/term" || { cat "$work/term.log"; fail "SIGTERM run did not exit 0"; }
grep -q "stopped by signal after step 21" "$work/term.log" || { cat "$work/term.log"; fail "no clean stop message"; }
run "$work/term" || fail "resume after SIGTERM failed"
cmp "$work/full/run/last.safetensors" "$work/term/run/last.safetensors" || fail "resumed mid-epoch: last.safetensors differs"
echo "ok: SIGTERM mid-epoch + rerun == uninterrupted"

# Both numbers are printed by the same JSON writer from the same double, so text compares.
best_acc=$(grep -o '"val_accuracy":[^,}]*' "$work/full/run/metrics.jsonl" | cut -d: -f2 | sort -g | tail -1)
"$TANDEM" eval --checkpoint "$work/full/run/best.safetensors" > "$work/eval.json"
got=$(grep -o '"accuracy":[^,}]*' "$work/eval.json" | cut -d: -f2)
[ "$got" = "$best_acc" ] || fail "eval accuracy $got != recorded $best_acc"
echo "ok: tandem eval of best.safetensors prints the recorded accuracy ($got)"
"$TANDEM" inspect "$work/full/run/last.safetensors" > /dev/null
"$TANDEM" convert "$work/full/run/last.safetensors" "$work/export.pt" > /dev/null
"$TANDEM" convert "$work/export.pt" "$work/weights.safetensors" > /dev/null
"$TANDEM" eval "$cfg" --checkpoint "$work/export.pt" > "$work/eval_pt.json"
# Weights saved after torch.compile (and DDP) load as they are, and eval says how their keys
# were made to fit, in one line on stderr (stdout stays the JSON result).
"$TANDEM" convert "$work/full/run/last.safetensors" "$work/compiled.safetensors" --add-prefix _orig_mod.module. > /dev/null
"$TANDEM" eval "$cfg" --checkpoint "$work/compiled.safetensors" > "$work/eval_compiled.json" 2> "$work/eval_compiled.err"
grep -qx "$work/compiled.safetensors: stripped '_orig_mod.module.' (torch.compile, DistributedDataParallel) from every key" "$work/eval_compiled.err" ||
  { cat "$work/eval_compiled.err"; fail "eval does not say which prefixes it stripped"; }
cmp "$work/eval_pt.json" "$work/eval_compiled.json" || fail "the compiled weights evaluate differently"
echo "ok: torch.compile'd (_orig_mod.module.) weights load, and eval says so in one line"
# predict: an eval-mode forward of tensor "input" (written by tandem_make_input) into "output".
"$TANDEM_MAKE_INPUT" "$work/in.safetensors"
"$TANDEM" predict --checkpoint "$work/full/run/best.safetensors" --input "$work/in.safetensors" --output "$work/out.safetensors"
"$TANDEM" inspect "$work/out.safetensors" | grep -q "output .*float32 *\[3,4\]" || { "$TANDEM" inspect "$work/out.safetensors"; fail "predict output"; }
echo "ok: predict wrote output [3, 4]"

# A .pt export (tandem convert) records no global_step: resuming from it counts the steps from its
# epoch, says so, cuts metrics.jsonl back to that point with a note, and ends where the
# uninterrupted run ended.
"$TANDEM" convert "$work/full/run/epoch_0002.safetensors" "$work/e2.pt" > /dev/null
mkdir -p "$work/pt" && cp -r "$work/full/run" "$work/pt/run"
(cd "$work/pt" && $MPIRUN -np 2 "$TANDEM" train "$cfg" --set checkpoint.dir=run --resume "$work/e2.pt" > ../pt.log 2>&1) ||
  { cat "$work/pt.log"; fail "resume from a .pt failed"; }
grep -q "e2.pt records no global_step (a PyTorch checkpoint): counting on from 2 epoch(s) x 16 steps = step 32" "$work/pt.log" ||
  { cat "$work/pt.log"; fail "no note on the derived global_step"; }
grep -q "note: dropped [0-9]* line(s) of metrics.jsonl past the resume point (epoch 3, step 32)" "$work/pt.log" ||
  { cat "$work/pt.log"; fail "no note on the dropped metrics records"; }
python3 - "$work/full/run/metrics.jsonl" "$work/pt/run/metrics.jsonl" <<'PY' || fail "resumed from a .pt: the step records differ from the uninterrupted run's"
import json, sys
steps = [[(r["step"], r["loss"]) for r in map(json.loads, open(p)) if r["type"] == "step"] for p in sys.argv[1:]]
assert steps[0] == steps[1], steps
PY
cmp "$work/full/run/last.safetensors" "$work/pt/run/last.safetensors" || fail "resumed from a .pt: last.safetensors differs"
echo "ok: --resume of a .pt export derives global_step from its epoch and ends as the uninterrupted run"

# Another world size. A per-step cosine on 2 ranks (16 steps an epoch) stopped at the end of
# epoch 1 resumes on 1 rank (32 steps an epoch): the scheduler is rebuilt and advanced to where a
# 1-rank run has it, so the lr never exceeds the base lr and the cosine ends at 0.
step_sched=(--set scheduler.interval=step)
mkdir -p "$work/ws"
(cd "$work/ws" && TANDEM_TEST_SIGTERM_AT_STEP=16 $MPIRUN -np 2 "$TANDEM" train "$cfg" --set checkpoint.dir=run "${step_sched[@]}" > ../ws1.log 2>&1) ||
  { cat "$work/ws1.log"; fail "the 2-rank run did not stop cleanly"; }
grep -q "stopped by signal at the end of epoch 1" "$work/ws1.log" || { cat "$work/ws1.log"; fail "no stop at the epoch's end"; }
(cd "$work/ws" && "$TANDEM" train "$cfg" --set checkpoint.dir=run "${step_sched[@]}" > ../ws2.log 2>&1) ||
  { cat "$work/ws2.log"; fail "resume on 1 rank failed"; }
grep -q "note: the checkpoint was written by 2 rank(s), this run has 1" "$work/ws2.log" &&
  grep -q "note: an epoch is now 32 steps (was 16): the per-step scheduler is rebuilt from the config and advanced 32 steps" "$work/ws2.log" ||
  { cat "$work/ws2.log"; fail "no note on the rebuilt scheduler"; }
python3 - "$work/ws/run/metrics.jsonl" <<'PY' || fail "the resumed per-step schedule is wrong"
import json, sys
lrs = [r["lr"] for r in map(json.loads, open(sys.argv[1])) if r["type"] == "step"]
assert max(lrs) <= 0.1, lrs
assert abs(lrs[-1]) < 1e-9, lrs
PY
echo "ok: 2 ranks -> 1 rank at an epoch's end: the per-step scheduler is advanced, not carried over"
# Mid-epoch on another world size: refused (the epoch's data order cannot continue).
mkdir -p "$work/ws_mid"
(cd "$work/ws_mid" && TANDEM_TEST_SIGTERM_AT_STEP=21 $MPIRUN -np 2 "$TANDEM" train "$cfg" --set checkpoint.dir=run > ../ws_mid.log 2>&1) ||
  { cat "$work/ws_mid.log"; fail "the 2-rank run did not stop cleanly"; }
cp "$work/ws_mid/run/last.safetensors" "$work/ws_mid/kept.safetensors"
cd "$work/ws_mid"
expect_error 2 "saved in the middle of epoch 2 \\(after 5 of its steps\\) by 2 rank\\(s\\); this run has 1" -- "$TANDEM" train "$cfg" --set checkpoint.dir=run
grep -q "^hint: resume on 2 rank(s) (mpirun -np 2" "$work/err" || { cat "$work/err"; fail "the hint does not say how to resume"; }
cd - > /dev/null
cmp "$work/ws_mid/run/last.safetensors" "$work/ws_mid/kept.safetensors" || fail "the refused resume changed last.safetensors"
echo "ok: a mid-epoch checkpoint of 2 ranks is refused on 1 rank, naming both counts"
# Another checkpoint.monitor and mode: the restored best accuracy is not compared with a loss;
# best tracking starts afresh, so the next epoch is the best.
(cd "$work/full" && $MPIRUN -np 2 "$TANDEM" train "$cfg" --set checkpoint.dir=run --set training.epochs=4 \
  --set checkpoint.monitor=loss --set checkpoint.mode=min > ../mon.log 2>&1) || { cat "$work/mon.log"; fail "resume with another monitor failed"; }
grep -q "tracked the best accuracy (mode max), this run's checkpoint.monitor and mode are loss (mode min): best tracking starts afresh" "$work/mon.log" &&
  grep -q "epoch 4/4: .*(best)" "$work/mon.log" || { cat "$work/mon.log"; fail "best tracking did not start afresh"; }
echo "ok: resuming with another monitor and mode starts best tracking afresh, with a note"
echo "all resume checks passed"
