#!/usr/bin/env bash
# Ranks that disagree stop at start-up with one error naming the keys and the ranks, in seconds
# (not at the collective timeout, not with heap corruption): mpirun's MPMD syntax gives each rank
# its own --set overrides. Rank-local keys (training.threads) may differ.
source "$(dirname "$0")/common.sh"
set -e
cfg="$TANDEM_SOURCE/configs/synthetic.yaml"
tiny=(--set training.epochs=1 --set data.synthetic_train_size=64 --set data.synthetic_test_size=32)
cd "$work"
# two_ranks "RANK 0 ARGS" "RANK 1 ARGS": one job, each rank with its own extra arguments.
two_ranks() {
  timeout 60 $MPIRUN -np 1 "$TANDEM" train "$cfg" "${tiny[@]}" $1 : -np 1 "$TANDEM" train "$cfg" "${tiny[@]}" $2
}
# expect_disagreement PATTERN RANK0_ARGS RANK1_ARGS: exit 2 within 30 s, the pattern, one report.
expect_disagreement() {
  local start=$(date +%s)
  expect_error 2 "$1" -- two_ranks "$2" "$3"
  local took=$(( $(date +%s) - start ))
  [ $took -lt 30 ] || fail "the mismatch took $took s to end the job"
  [ "$(grep -c '^error:' "$work/err")" -eq 1 ] || { cat "$work/err"; fail "expected one error report"; }
  grep -q "^hint: " "$work/err" || fail "no hint"
}
expect_disagreement "the ranks disagree on the run config \(5 keys\)" \
  "--set checkpoint.dir=r1 --set data.batch_size=8" \
  "--set checkpoint.dir=r1 --set optimizer.lr=0.2 --set training.epochs=3 --set seed=1 --set optimizer.weight_decay=0.1"
for line in "seed: 0 (rank 0), 1 (rank 1)" "data.batch_size: 8 (rank 0), 16 (rank 1)" \
  "optimizer.lr: 0.1 (rank 0), 0.2 (rank 1)" "optimizer.weight_decay: <not set> (rank 0), 0.1 (rank 1)" \
  "training.epochs: 1 (rank 0), 3 (rank 1)"; do
  grep -qxF "  $line" "$work/err" || { cat "$work/err"; fail "no line '$line'"; }
done
expect_disagreement "data.synthetic_train_size: 64 \(rank 0\), 96 \(rank 1\)" \
  "--set checkpoint.dir=r1" "--set checkpoint.dir=r1 --set data.synthetic_train_size=96"
expect_disagreement "checkpoint.dir: r1 \(rank 0\), r2 \(rank 1\)" "--set checkpoint.dir=r1" "--set checkpoint.dir=r2"
echo "ok: batch size, lr, epochs, seed, a key set on one rank, dataset size, run directory: one error naming the keys and ranks"

# The resume point: one rank resumes from last.safetensors, the other starts fresh.
timeout 60 $MPIRUN -np 2 "$TANDEM" train "$cfg" "${tiny[@]}" --set checkpoint.dir=r3 > first.log 2>&1 || { cat first.log; fail "first run failed"; }
expect_disagreement "resume from: epoch 2, step 2 \(rank 0\), a fresh start \(rank 1\)" \
  "--set checkpoint.dir=r3 --set training.epochs=2" "--set checkpoint.dir=r3 --set training.epochs=2 --resume never"
echo "ok: ranks that would resume from different points: one error"

# Rank-local keys may differ: the job trains.
two_ranks "--set checkpoint.dir=r4" "--set checkpoint.dir=r4 --set training.threads=2 --set data.prefetch=false" > local.log 2>&1 || { cat local.log; fail "ranks differing in rank-local keys did not train"; }
echo "ok: ranks differing only in rank-local keys train"
echo "all rank agreement checks passed"
