#!/usr/bin/env bash
# Runs that go wrong: a non-finite loss stops the run (training.stop_on_nan, default true) with one
# error and exit 2 on every rank, and nothing broken is saved; with stop_on_nan false, and for an
# empty test set, non-finite metrics are written as "nan" (valid JSON) and drawn as such; an
# empty training set is an error; a second SIGTERM ends a run whose step never finishes, at once,
# leaving the last checkpoint intact.
source "$(dirname "$0")/common.sh"
set -e
cfg="$TANDEM_SOURCE/configs/synthetic.yaml"
tiny=(--set training.epochs=2 --set data.synthetic_train_size=64 --set data.synthetic_test_size=32 --set training.log_every=1)
cd "$work"
# Valid JSON lines: no bare NaN/Infinity, and here no null either (the writer spells them out).
json_ok() { ! grep -qE '(:|,)(-?NaN|-?Infinity|null)' "$1" || { cat "$1"; fail "$1 holds a value that is not JSON"; }; }

# --- stop_on_nan ---------------------------------------------------------------------------------
# With lr nan, step 1 computes a finite loss from the initial weights; its update makes them NaN.
expect_error 2 "^error: the training loss is nan at epoch 1, step 2 \(optimizer step 2\): stopping \(training.stop_on_nan\)" -- \
  "$TANDEM" train "$cfg" "${tiny[@]}" --set optimizer.lr=nan --set checkpoint.dir=nan1
grep -q "^hint: lower optimizer.lr" "$work/err" || fail "no hint"
[ ! -e nan1/last.safetensors ] || fail "a checkpoint of NaN weights was written"
json_ok nan1/metrics.jsonl
grep -q '"loss":"nan","lr":"nan"' nan1/metrics.jsonl || { cat nan1/metrics.jsonl; fail "the NaN step is not recorded as \"nan\""; }
start=$(date +%s)
expect_error 2 "^error: the training loss is nan at epoch 1, step 2" -- \
  timeout 60 $MPIRUN -np 2 "$TANDEM" train "$cfg" "${tiny[@]}" --set optimizer.lr=nan --set checkpoint.dir=nan2
[ "$(grep -c '^error:' "$work/err")" -eq 1 ] || { cat "$work/err"; fail "expected one error report from 2 ranks"; }
[ $(( $(date +%s) - start )) -lt 30 ] || fail "the 2-rank NaN stop took too long"
echo "ok: a NaN loss stops the run (1 and 2 ranks): one error, exit 2, no checkpoint of NaN weights"

# --- training on with NaN: written as "nan", drawn as such --------------------------------------
"$TANDEM" train "$cfg" "${tiny[@]}" --set optimizer.lr=nan --set training.stop_on_nan=false --set checkpoint.dir=nan3 > nan3.log 2>&1 || { cat nan3.log; fail "stop_on_nan: false did not train on"; }
json_ok nan3/metrics.jsonl
grep -q '"type":"epoch","epoch":1,"train_loss":"nan","val_loss":"nan"' nan3/metrics.jsonl || { cat nan3/metrics.jsonl; fail "no nan epoch record"; }
if command -v gnuplot > /dev/null; then
  grep -q "no finite values" nan3/metrics.svg || { cat nan3.log; fail "the loss panel does not say it has no finite values"; }
fi
echo "ok: training.stop_on_nan: false trains on, records \"nan\" and plots it"

# --- datasets of zero images (IDX files written here) ------------------------------------------
idx() {  # idx FILE MAGIC COUNT: an IDX file of COUNT random 28x28 images (magic 3) or labels 0 (magic 1)
  { printf "\\x00\\x00\\x08\\x0$2\\x00\\x00\\x00\\x$(printf %02x $3)"
    if [ "$2" = 3 ]; then printf '\x00\x00\x00\x1c\x00\x00\x00\x1c'; head -c $(( $3 * 784 )) /dev/urandom
    else head -c "$3" /dev/zero; fi; } | gzip > "$1"
}
mkdir -p data
idx data/train-images-idx3-ubyte.gz 3 8; idx data/train-labels-idx1-ubyte.gz 1 8
idx data/t10k-images-idx3-ubyte.gz 3 0; idx data/t10k-labels-idx1-ubyte.gz 1 0
mlp="$TANDEM_SOURCE/configs/fashion_mnist_mlp.yaml"
"$TANDEM" train "$mlp" --set data.root=data --set training.epochs=2 --set checkpoint.dir=empty_test > empty_test.log 2>&1 || { cat empty_test.log; fail "an empty test set stopped the run"; }
json_ok empty_test/metrics.jsonl
grep -q '"val_loss":"nan","val_accuracy":"nan"' empty_test/metrics.jsonl || { cat empty_test/metrics.jsonl; fail "no nan validation metrics"; }
idx data/train-images-idx3-ubyte.gz 3 0; idx data/train-labels-idx1-ubyte.gz 1 0
expect_error 2 "^error: data: the training set \(fashion_mnist\) is empty" -- \
  "$TANDEM" train "$mlp" --set data.root=data --set checkpoint.dir=empty_train
echo "ok: an empty test set gives \"nan\" validation metrics; an empty training set is an error"

# --- a step that never finishes: the second SIGTERM exits at once -----------------------------
# 64 examples / batch 16 = 4 steps per epoch: step 6 hangs in epoch 2, after epoch 1's checkpoint.
TANDEM_TEST_HANG_AT_STEP=6 "$TANDEM" train "$cfg" "${tiny[@]}" --set checkpoint.dir=hang > hang.log 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q "test: step 6 hangs" hang.log && break; sleep 0.1; done
grep -q "test: step 6 hangs" hang.log || { kill -9 $pid; cat hang.log; fail "the run did not reach the hanging step"; }
cp hang/last.safetensors before.safetensors
kill -TERM $pid
sleep 0.5
kill -0 $pid 2> /dev/null || { cat hang.log; fail "one SIGTERM ended a run whose step cannot finish"; }
grep -q "stop requested: finishing the current step" hang.log || { cat hang.log; fail "no message after the first signal"; }
kill -TERM $pid
set +e
wait $pid
rc=$?
set -e
[ $rc -eq 143 ] || { cat hang.log; fail "exit code $rc after the second SIGTERM, expected 143"; }
grep -q "second stop signal: exiting at once; the last checkpoint on disk is intact" hang.log || { cat hang.log; fail "no message after the second signal"; }
cmp before.safetensors hang/last.safetensors || fail "last.safetensors changed"
"$TANDEM" inspect hang/last.safetensors > /dev/null || fail "last.safetensors does not load"
echo "ok: a second SIGTERM ends a hanging step at once (exit 143), last.safetensors intact"
# --- stopping a job under mpirun: SIGUSR1 to mpirun, or SIGTERM to tandem-run ---------------
# mpirun forwards SIGUSR1 to every rank: they finish the step, write last.safetensors, exit 0,
# and so does mpirun (a SIGTERM to mpirun would make Open MPI end the job and exit 1).
# tandem-run turns its SIGTERM into that SIGUSR1.
stop_job() {  # stop_job NAME SIGNAL WHO command...: starts the job, signals WHO once it trains
  local name=$1 sig=$2 who=$3
  shift 3
  "$@" "$cfg" --set training.epochs=100000 --set checkpoint.dir="$name" > "$name.log" 2>&1 &
  local pid=$!
  for _ in $(seq 300); do [ -s "$name/metrics.jsonl" ] && break; sleep 0.1; done
  [ -s "$name/metrics.jsonl" ] || { kill -9 $pid; cat "$name.log"; fail "$name: the job did not start training"; }
  kill -"$sig" $pid
  set +e
  timeout 60 tail --pid=$pid -f /dev/null
  wait $pid
  local rc=$?
  set -e
  [ $rc -eq 0 ] || { tail -20 "$name.log"; fail "$name: exit code $rc after SIG$sig, expected 0"; }
  grep -q "stopped by signal" "$name.log" || { tail -20 "$name.log"; fail "$name: no clean stop"; }
  [ "$(grep -c "stop requested" "$name.log")" -eq 2 ] || { tail -20 "$name.log"; fail "$name: not every rank was asked to stop"; }
  "$TANDEM" inspect "$name/last.safetensors" > /dev/null || fail "$name: last.safetensors does not load"
  echo "ok: SIG$sig to $who stops the 2-rank job cleanly: exit 0, last.safetensors written"
}
stop_job usr1 USR1 mpirun $MPIRUN -np 2 "$TANDEM" train
stop_job tandem_run TERM tandem-run env TANDEM_BIN="$TANDEM" "$TANDEM_SOURCE/launch/tandem-run" -np 2 train
echo "all non-finite and signal checks passed"
