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
echo "all resume checks passed"
