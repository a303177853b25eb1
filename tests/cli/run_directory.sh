#!/usr/bin/env bash
# The run directory: a checkpoint.dir full of shell and gnuplot syntax is only ever a path (the
# plot is drawn by gnuplot spawned with an argument vector, its script on stdin).
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
echo "all run directory checks passed"
