#!/usr/bin/env bash
# The run directory: a checkpoint.dir full of shell and gnuplot syntax is only ever a path (the
# plot is drawn by gnuplot spawned with an argument vector, its script on stdin); two runs cannot
# share a directory (the second is refused naming the first's PID and host, also under mpirun,
# and the lock dies with its holder); temporary files of killed writes are removed at start-up,
# but only by the run that holds the lock; metrics.jsonl holds each step and epoch once after a
# crash and resume, and after a resume from an earlier checkpoint.
source "$(dirname "$0")/common.sh"
set -e
cfg="$TANDEM_SOURCE/configs/synthetic.yaml"
tiny=(--set training.epochs=2 --set data.synthetic_train_size=64 --set data.synthetic_test_size=32)
cd "$work"

# --- no shell: quotes, ';', $(...), backticks and gnuplot's system() in the directory name -----
hostile=("runs/x'; touch PWNED1; echo '"
         "runs/\"; touch PWNED2; \$(touch PWNED3)\`touch PWNED4\`'); system(\"touch PWNED5\"); print('")
for dir in "${hostile[@]}"; do
  "$TANDEM" train "$cfg" "${tiny[@]}" --set "checkpoint.dir=$dir" > hostile.log 2>&1 || { cat hostile.log; fail "training in '$dir' failed"; }
  [ -z "$(find . -name 'PWNED*')" ] || fail "a command from checkpoint.dir '$dir' ran: $(find . -name 'PWNED*')"
  [ -f "$dir/last.safetensors" ] || fail "no checkpoint in the literal directory '$dir'"
  if command -v gnuplot > /dev/null; then
    grep -q "<svg" "$dir/metrics.svg" || { cat hostile.log; fail "no metrics.svg in '$dir'"; }
  fi
done
echo "ok: a checkpoint.dir of shell and gnuplot syntax is a path; no command ran"
# Without gnuplot the run still succeeds and says why there is no plot.
PATH=/nonexistent "$TANDEM" train "$cfg" "${tiny[@]}" --set checkpoint.dir=runs/noplot > noplot.log 2>&1 || { cat noplot.log; fail "run without gnuplot failed"; }
grep -q "note: no metrics plot: gnuplot is not installed" noplot.log || { cat noplot.log; fail "no note about gnuplot"; }
echo "ok: without gnuplot: a note, exit 0"
# Rerunning a finished run trains nothing and leaves its folder as it was: config.yaml keeps the
# config that trained the weights, even when the rerun's config differs.
cp runs/noplot/config.yaml finished_config.yaml
cp runs/noplot/metrics.jsonl finished_metrics.jsonl
"$TANDEM" train "$cfg" "${tiny[@]}" --set checkpoint.dir=runs/noplot --set optimizer.lr=0.5 > rerun.log 2>&1 || { cat rerun.log; fail "rerun of a finished run failed"; }
grep -q "nothing to train: the run in runs/noplot has trained 2 epoch(s) of training.epochs 2" rerun.log || { cat rerun.log; fail "the rerun does not say there is nothing to train"; }
cmp finished_config.yaml runs/noplot/config.yaml || fail "the rerun rewrote config.yaml"
cmp finished_metrics.jsonl runs/noplot/metrics.jsonl || fail "the rerun changed metrics.jsonl"
echo "ok: a finished run's rerun trains nothing and rewrites nothing"

# --- one run per directory ---------------------------------------------------------------------
dir=runs/locked
mkdir -p "$dir"
head -c 100000 /dev/zero > "$dir/.last.safetensors.tmp.Ab12Cd"  # a killed write's leftover
echo keep > "$dir/.notes.txt.tmp.Ab12Cd"                          # not tandem's: kept
echo keep > "$dir/epoch_0001.safetensors.tmp"                     # not a temp name: kept
"$TANDEM" train "$cfg" "${tiny[@]}" --set training.epochs=100000 --set checkpoint.dir=$dir > first.log 2>&1 &
first=$!
for _ in $(seq 100); do grep -q "pid $first" "$dir/.tandem.lock" 2> /dev/null && break; sleep 0.1; done
grep -q "pid $first on host $(hostname)" "$dir/.tandem.lock" || { cat first.log; fail "the first run did not note its PID and host"; }
[ ! -e "$dir/.last.safetensors.tmp.Ab12Cd" ] || fail "the stale temporary file was not removed"
grep -q "removed 1 temporary file(s) (0.1 MB)" first.log || { cat first.log; fail "no note about the removed file"; }
[ -e "$dir/.notes.txt.tmp.Ab12Cd" ] && [ -e "$dir/epoch_0001.safetensors.tmp" ] || fail "a file that is not tandem's temporary was removed"
echo "ok: stale temporary files of tandem's writes removed by the lock holder, others kept"
head -c 1000 /dev/zero > "$dir/.best.safetensors.tmp.Zz99Yy"  # as if the first run were writing it
expect_error 2 "error: run directory $dir is in use by another tandem run \\(pid $first on host $(hostname)\\)" -- \
  "$TANDEM" train "$cfg" "${tiny[@]}" --set checkpoint.dir=$dir
grep -q "^hint: wait for that run to end" "$work/err" || fail "no hint"
[ -e "$dir/.best.safetensors.tmp.Zz99Yy" ] || fail "the refused run removed a temporary file of the running one"
start=$(date +%s)
expect_error 2 "in use by another tandem run \\(pid $first on host" -- \
  timeout 60 $MPIRUN -np 2 "$TANDEM" train "$cfg" "${tiny[@]}" --set checkpoint.dir=$dir
[ $(( $(date +%s) - start )) -lt 30 ] || fail "the refused mpirun job took $(( $(date +%s) - start )) s to end"
kill -0 $first 2> /dev/null || { cat first.log; fail "the first run did not survive the refused ones"; }
kill -9 $first
wait $first 2> /dev/null || true
# The kernel released the dead holder's lock: a new run proceeds.
"$TANDEM" train "$cfg" "${tiny[@]}" --set training.epochs=1 --set checkpoint.dir=$dir --resume never > third.log 2>&1 || { cat third.log; fail "no run after the holder was killed"; }
echo "ok: a second run (alone and under mpirun) is refused with the holder's PID and host; the lock dies with its holder"

# --- metrics.jsonl after a resume: truncated to the resume point --------------------------------
# once FILE: the step and epoch records each appear once, steps 8, 16, ... and epochs 0..N-1.
once() {
  local steps epochs
  steps=$(grep -o '"type":"step","epoch":[0-9]*,"step":[0-9]*' "$1" | sed 's/.*"step"://' | tr '\n' ' ')
  epochs=$(grep -o '"type":"epoch","epoch":[0-9]*' "$1" | sed 's/.*"epoch"://' | tr '\n' ' ')
  [ "$steps" = "$2" ] && [ "$epochs" = "$3" ] || { cat "$1"; fail "$1: steps '$steps' epochs '$epochs', expected '$2' and '$3'"; }
}
three=(--set training.epochs=3 --set training.log_every=2)  # 4 steps per epoch
set +e
TANDEM_TEST_KILL_AT_STEP=7 "$TANDEM" train "$cfg" "${tiny[@]}" "${three[@]}" --set checkpoint.dir=runs/metrics > killed.log 2>&1
set -e
echo -n '{"type":"epoch","epo' >> runs/metrics/metrics.jsonl  # a line torn by the kill
"$TANDEM" train "$cfg" "${tiny[@]}" "${three[@]}" --set checkpoint.dir=runs/metrics > resumed.log 2>&1 || { cat resumed.log; fail "resume failed"; }
grep -q "resuming from runs/metrics/last.safetensors: epoch 2, step 4" resumed.log || { cat resumed.log; fail "did not resume from the end of epoch 1"; }
once runs/metrics/metrics.jsonl "2 4 6 8 10 12 " "0 1 2 "
"$TANDEM" train "$cfg" "${tiny[@]}" "${three[@]}" --set checkpoint.dir=runs/metrics --resume runs/metrics/epoch_0002.safetensors > again.log 2>&1 || { cat again.log; fail "resume from epoch 2 failed"; }
once runs/metrics/metrics.jsonl "2 4 6 8 10 12 " "0 1 2 "
echo "ok: metrics.jsonl holds each record once after a crash + resume and a resume from an earlier epoch"
echo "all run directory checks passed"
