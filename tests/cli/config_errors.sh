#!/usr/bin/env bash
# Config and input errors: exit code 2, a message naming the key/file/line, no stack trace.
source "$(dirname "$0")/common.sh"
set -e
printf 'data:\n  batch_sise: 8\n' > "$work/typo.yaml"
expect_error 2 "typo.yaml:2: data.batch_sise: unknown key" -- "$TANDEM" train "$work/typo.yaml"
expect_error 2 "did you mean 'data.batch_size'" -- "$TANDEM" train "$work/typo.yaml"
printf 'seed: 0\noptimizer: {name: sgd}\ntraining:\n  epochs: ten\n' > "$work/type.yaml"
expect_error 2 "type.yaml:4: training.epochs: expected an integer, got 'ten'" -- "$TANDEM" train "$work/type.yaml"
expect_error 2 "config file not found: $work/missing.yaml" -- "$TANDEM" train "$work/missing.yaml"
printf 'data: {dataset: fashion_mnist, root: %s/nowhere}\n' "$work" > "$work/nodata.yaml"
expect_error 2 "dataset file not found: $work/nowhere/train-images-idx3-ubyte.gz" -- "$TANDEM" train "$work/nodata.yaml" --set checkpoint.dir="$work/run"
expect_error 2 "hint: install Debian's dataset-fashion-mnist" -- "$TANDEM" train "$work/nodata.yaml" --set checkpoint.dir="$work/run"
expect_error 2 "optimizer.momentun: unknown argument" -- "$TANDEM" train "$work/type.yaml" --set training.epochs=1 --set optimizer.momentun=0.9
expect_error 2 "unknown option '--sett'" -- "$TANDEM" train "$work/type.yaml" --sett x=1
expect_error 2 "is not a tandem checkpoint" -- "$TANDEM" eval --checkpoint "$work/type.yaml"
echo "all config error checks passed"
