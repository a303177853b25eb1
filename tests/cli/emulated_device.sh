#!/usr/bin/env bash
# Training on the emulated CUDA device as a user sees it: the per-epoch memory line of the caching
# allocator reads well for a small model (KiB, not "0.0 MiB"); a device too small for the model
# gives the allocator's out-of-memory error (exit 2, what was requested, allocated and reserved);
# a TANDEM_EMULATE_CUDA that is not a device count is a clear error.
source "$(dirname "$0")/common.sh"
set -e
cfg="$TANDEM_SOURCE/configs/synthetic.yaml"
tiny=(--set training.epochs=1 --set data.synthetic_train_size=64 --set data.synthetic_test_size=32)
cd "$work"

TANDEM_EMULATE_CUDA=2 "$TANDEM" train "$cfg" "${tiny[@]}" --set training.device=cuda:1 \
  --set checkpoint.dir=runs/memory > memory.log 2>&1 || { cat memory.log; fail "training on cuda:1 failed"; }
size='[0-9]+ B|[0-9]+\.[0-9] (KiB|MiB)|[0-9]+\.[0-9]{2} GiB'
line="^  cuda:1 memory: allocated ($size) \\(peak ($size)\\), reserved ($size) \\(peak ($size)\\), [0-9]+ device mallocs?$"
grep -qE "$line" memory.log || { cat memory.log; fail "no memory line matching '$line'"; }
# A size of zero printed in MiB, not one like "20.0 MiB" that merely ends in those digits.
! grep -qE "(^|[^0-9.])0\.0 MiB" memory.log || { cat memory.log; fail "a size printed as 0.0 MiB"; }
echo "ok: $(grep "memory:" memory.log)"

expect_error 2 "^error: emulated CUDA out of memory on cuda:0: tried to allocate .+; .+ allocated by tensors, .+ reserved by tandem's caching allocator, .+ free of 1\\.0 MiB$" -- \
  env TANDEM_EMULATE_CUDA=1 TANDEM_EMULATED_MEMORY_MB=1 "$TANDEM" train "$cfg" "${tiny[@]}" \
  --set training.device=cuda --set checkpoint.dir=runs/oom
grep -q "^hint: reduce data.batch_size" "$work/err" || { cat "$work/err"; fail "no hint"; }

expect_error 2 "^error: .*TANDEM_EMULATE_CUDA='two' is not a device count" -- \
  env TANDEM_EMULATE_CUDA=two "$TANDEM" train "$cfg" "${tiny[@]}" --set training.device=cuda \
  --set checkpoint.dir=runs/bad
grep -q "^hint: set it to the number of emulated CUDA devices (1 to 16), or 0 for none" "$work/err" || { cat "$work/err"; fail "no hint"; }
echo "emulated device checks passed"
