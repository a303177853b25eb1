#!/usr/bin/env bash
# Hostile inputs through the tandem executable (issue #11): each must end with exit code 2 and an
# "error:" line naming the problem, within a time bound, never a crash, hang or exit 1. The files
# come from tandem_make_adversarial (tests/adversarial_inputs.h); the library-level checks are in
# tests/test_adversarial_inputs.cpp.
source "$(dirname "$0")/common.sh"
set -e
bound=${TANDEM_ADVERSARIAL_SECONDS:-30}  # generous: CI has two slow cores; sanitizers are slower
"$TANDEM_MAKE_ADVERSARIAL" "$work" "$TANDEM_SOURCE/configs"
syn="$TANDEM_SOURCE/configs/synthetic.yaml"
refused() {  # refused PATTERN command...: exit 2, "error:" and PATTERN on stderr, in time
  local pattern=$1
  shift
  expect_error 2 "^error: .*$pattern" -- timeout "$bound" "$@"
  if grep -q "No such file" "$work/err"; then fail "'$*' claims a missing file"; fi
}
fast() {  # fast command...: exit 0 within the bound
  set +e
  timeout "$bound" "$@" > "$work/out" 2> "$work/err"
  local rc=$?
  set -e
  [ "$rc" -eq 0 ] || { cat "$work/err"; fail "'$*' exited $rc, expected 0 within ${bound}s"; }
  echo "ok: $* -> exit 0"
}
refused "levels deep" "$TANDEM" inspect "$work/nested.pt"
refused "contains itself" "$TANDEM" inspect "$work/selfref.pt"
refused "expand to more than" "$TANDEM" inspect "$work/dag.pt"
refused "tensor view outside its storage" "$TANDEM" convert "$work/stride_wrap.pt" "$work/out.safetensors"
[ ! -e "$work/out.safetensors" ] || fail "convert wrote a file from a hostile input"
refused "not valid UTF-8" "$TANDEM" inspect --json "$work/non_utf8.pt"
refused "zip4g.pt: not a readable zip archive \(record .* declares 4294967296 bytes" "$TANDEM" inspect "$work/zip4g.pt"
refused "nests deeper" "$TANDEM" inspect "$work/nested.safetensors"
fast "$TANDEM" inspect "$work/dict100k.pt"
fast "$TANDEM" inspect "$work/many.safetensors"
refused "expands to more than" "$TANDEM" train "$work/laughs.yaml" --set checkpoint.dir="$work/run0"
refused "expands to more than" "$TANDEM" eval --checkpoint "$work/laughs_ck.safetensors"
refused "impossible size" "$TANDEM" train "$work/idx.yaml" --set checkpoint.dir="$work/run1"
refused "out of memory" "$TANDEM" train "$work/big_linear.yaml" --set checkpoint.dir="$work/run2"
refused "not UTF-8" "$TANDEM" train "$syn" --set checkpoint.dir="$work/run3" --set $'seed=\xff'
refused "momentum.safetensors: optimizer.state.0.momentum_buffer" \
  "$TANDEM" train "$syn" --set checkpoint.dir="$work/run4" --resume "$work/momentum.safetensors"
refused "base_lrs.safetensors: scheduler.base_lrs" \
  "$TANDEM" train "$syn" --set checkpoint.dir="$work/run5" --resume "$work/base_lrs.safetensors"
refused "checkpoint field 'step_in_epoch'" \
  "$TANDEM" train "$syn" --set checkpoint.dir="$work/run6" --resume "$work/step_in_epoch.safetensors"
echo "all adversarial CLI checks passed"
