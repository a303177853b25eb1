#!/usr/bin/env bash
# Config and input errors: exit code 2, a message naming the key/file/line (or the --set
# override), a hint: line saying what to do, no stack trace.
source "$(dirname "$0")/common.sh"
set -e
# expect_user_error CODE PATTERN -- command...: expect_error, and stderr has a hint: line.
expect_user_error() {
  expect_error "$@"
  grep -q "^hint: ." "$work/err" || { cat "$work/err"; fail "no hint: line"; }
}
printf 'data:\n  batch_sise: 8\n' > "$work/typo.yaml"
expect_user_error 2 "typo.yaml:2: data.batch_sise: unknown key" -- "$TANDEM" train "$work/typo.yaml"
expect_user_error 2 "did you mean 'data.batch_size'" -- "$TANDEM" train "$work/typo.yaml"
printf 'seed: 0\noptimizer: {name: sgd}\ntraining:\n  epochs: ten\n' > "$work/type.yaml"
expect_user_error 2 "type.yaml:4: training.epochs: expected an integer, got 'ten'" -- "$TANDEM" train "$work/type.yaml"
expect_user_error 2 "config file not found: $work/missing.yaml" -- "$TANDEM" train "$work/missing.yaml"
# A directory is no config (it used to read as an empty one and train the defaults).
mkdir "$work/cfgdir"
expect_user_error 2 "^error: config file $work/cfgdir is a directory" -- "$TANDEM" train "$work/cfgdir" --set checkpoint.dir="$work/cfgdir_run"
[ ! -e "$work/cfgdir_run" ] || fail "train of a directory config created a run directory"
expect_user_error 2 "^error: config file $work/cfgdir is a directory" -- "$TANDEM" eval "$work/cfgdir" --checkpoint "$work/type.yaml"
printf 'data: {dataset: fashion_mnist, root: %s/nowhere}\n' "$work" > "$work/nodata.yaml"
expect_user_error 2 "dataset file not found: $work/nowhere/train-images-idx3-ubyte.gz" -- "$TANDEM" train "$work/nodata.yaml" --set checkpoint.dir="$work/run"
expect_user_error 2 "hint: install Debian's dataset-fashion-mnist" -- "$TANDEM" train "$work/nodata.yaml" --set checkpoint.dir="$work/run"
expect_user_error 2 "optimizer.momentun: unknown argument" -- "$TANDEM" train "$work/type.yaml" --set training.epochs=1 --set optimizer.momentun=0.9
expect_user_error 2 "unknown option '--sett'" -- "$TANDEM" train "$work/type.yaml" --sett x=1
expect_user_error 2 "is not a tandem checkpoint" -- "$TANDEM" eval --checkpoint "$work/type.yaml"
expect_user_error 2 "^error: config error: --set training.epochs=abc: training.epochs: expected an integer, got 'abc'" -- \
  "$TANDEM" train "$work/type.yaml" --set training.epochs=abc
grep -q "^hint: training.epochs: number of epochs (default: 10)" "$work/err" || { cat "$work/err"; fail "the hint does not say what training.epochs takes"; }
synthetic="$TANDEM_SOURCE/configs/synthetic.yaml"
expect_user_error 2 "^error: config error: --set data.batch_size=0: data.batch_size: must be positive" -- \
  "$TANDEM" train "$synthetic" --set data.batch_size=0
printf 'data: {dataset: synthetic, batch_size: -1}\n' > "$work/batch.yaml"
expect_user_error 2 "^error: config error: $work/batch.yaml:1: data.batch_size: must be positive" -- "$TANDEM" train "$work/batch.yaml"
# A repeated key is a mistake, not "the last one wins"; values out of range are caught at load,
# so --print-config reports them.
printf 'seed: 1\ndata: {batch_size: 8}\nseed: 2\n' > "$work/dup.yaml"
expect_user_error 2 "^error: config error: $work/dup.yaml:3: seed: duplicate key \\(first at line 1\\)" -- "$TANDEM" train "$work/dup.yaml" --print-config
expect_user_error 2 "^error: config error: --set data.random_crop_padding=-1: data.random_crop_padding: must be >= 0" -- \
  "$TANDEM" train "$synthetic" --print-config --set data.random_crop_padding=-1
expect_user_error 2 "data.synthetic_shape: every size must be positive" -- "$TANDEM" train "$synthetic" --print-config --set 'data.synthetic_shape=[1, 0, 8]'

# --help-config names the zoo's models as `model.name` accepts them.
"$TANDEM" train --help-config > "$work/help"
grep -q "zoo name (mlp, resnet18, resnet34, resnet50, simple_cnn, unet, vgg11_bn)" "$work/help" || { grep "^model " -A1 "$work/help"; fail "--help-config does not list the zoo's names"; }
# --print-config checks the model, optimizer and scheduler sections as a run would, and prints
# floats in their shortest form.
cnn="$TANDEM_SOURCE/configs/fashion_mnist_cnn.yaml"
expect_user_error 2 "^error: config error: --set optimizer.name=sgdd: optimizer.name: unknown optimizer 'sgdd'" -- "$TANDEM" train "$cnn" --print-config --set optimizer.name=sgdd
expect_user_error 2 "scheduler.*unknown" -- "$TANDEM" train "$cnn" --print-config --set scheduler.name=cosine
"$TANDEM" train "$cnn" --print-config > "$work/printed"
grep -qx "  lr: 0.05" "$work/printed" && grep -qx "  weight_decay: 0.0005" "$work/printed" && grep -qx "  mean: \[0.286\]" "$work/printed" ||
  { cat "$work/printed"; fail "--print-config does not print floats in their shortest form"; }
"$TANDEM" train "$work/printed" --print-config | cmp - "$work/printed" || fail "the printed config does not read back to itself"
# A layer without a required argument, and a model whose sizes do not fit the data (found at the
# first step).
printf 'model:\n  name: sequential\n  layers:\n    - conv2d: {in_channels: 1, kernel_size: 3}\n' > "$work/layer.yaml"
expect_user_error 2 "^error: config error: $work/layer.yaml:4: model.layers\[0\].conv2d: missing required argument 'out_channels'" -- "$TANDEM" train "$work/layer.yaml" --print-config
# The model, optimizer and scheduler arguments' errors name their line too (their factories check
# them after the config is read).
printf 'model: {name: mlp}\noptimizer:\n  name: sgd\n  lr: 0.1\n  momentum: -1\n' > "$work/optarg.yaml"
expect_user_error 2 "^error: config error: $work/optarg.yaml:3: optimizer: Invalid momentum value: -1" -- "$TANDEM" train "$work/optarg.yaml" --print-config
printf 'optimizer: {name: sgd, lr: 0.1}\nscheduler:\n  name: steplr\n  gamma: 0.5\n' > "$work/schedarg.yaml"
expect_user_error 2 "^error: config error: $work/schedarg.yaml:3: scheduler.step_size: required for steplr" -- "$TANDEM" train "$work/schedarg.yaml" --print-config
expect_user_error 2 "mat1 and mat2 shapes cannot be multiplied" -- \
  "$TANDEM" train "$synthetic" --set 'model.layers=[flatten, {linear: {in_features: 60, out_features: 4}}]' --set checkpoint.dir="$work/shape"
grep -q "^hint: the model does not fit the data: a batch is \[16, 1, 8, 8\]" "$work/err" || { cat "$work/err"; fail "the hint does not name the batch shape"; }
# Converting a file onto itself.
cp "$TANDEM_SOURCE/tests/fixtures/io/plain.pt" "$work/plain.pt"
expect_user_error 2 "IN and OUT are the same file" -- "$TANDEM" convert "$work/plain.pt" "$work/plain.pt"
echo "all config error checks passed"
