#!/usr/bin/env bash
# training.precision end to end. bf16: a CNN (conv, batchnorm, relu, maxpool, linear) trains on
# the CPU, under mpirun -np 2 too, its loss falls and its accuracy is within a few points of the
# fp32 run's; on the emulated cuda device it gives the CPU's numbers exactly (the same casts:
# PyTorch's CPU and CUDA lists agree on this network's ops). fp16 is refused on the CPU naming the
# key; on cuda it trains with the loss scaler (gradients unscaled before training.clip_grad_norm
# clips them), whose state is in the checkpoint and in a .pt
# export (GradScaler's layout), and a run stopped mid-epoch and resumed ends byte-identical to an
# uninterrupted one. `tandem eval` of the bf16 best checkpoint prints the accuracy the run
# recorded. The cuda parts skip (exit 77 at the end) when cuda is not the emulated device.
source "$(dirname "$0")/common.sh"
set -e
cd "$work"
cat > cnn.yaml <<'YAML'
seed: 5
model:
  name: sequential
  layers:
    - conv2d: {in_channels: 1, out_channels: 8, kernel_size: 3, padding: 1}
    - batchnorm2d: {num_features: 8}
    - relu
    - maxpool2d: {kernel_size: 2}
    - conv2d: {in_channels: 8, out_channels: 16, kernel_size: 3, padding: 1}
    - relu
    - maxpool2d: {kernel_size: 2}
    - flatten
    - linear: {in_features: 64, out_features: 4}
data: {dataset: synthetic, batch_size: 16, synthetic_train_size: 512, synthetic_test_size: 256,
       synthetic_shape: [1, 8, 8], synthetic_classes: 4}
optimizer: {name: sgd, lr: 0.05, momentum: 0.9}
training: {epochs: 3, log_every: 8}
checkpoint: {dir: run}
YAML
train() {  # train NAME [LAUNCHER...] -- ARGS...
  local name=$1
  shift
  local launcher=()
  while [ "$1" != "--" ]; do launcher+=("$1"); shift; done
  shift
  mkdir -p "$name"
  (cd "$name" && "${launcher[@]}" "$TANDEM" train ../cnn.yaml --set checkpoint.dir=run "$@" \
    > ../$name.log 2>&1) || { cat "$name.log"; fail "run $name failed"; }
}
last_accuracy() { grep -o '"val_accuracy":[^,}]*' "$1/run/metrics.jsonl" | tail -1 | cut -d: -f2; }
strip_timing() { sed -E 's/,"images_per_s":[^,}]*//; s/,"seconds":[^,}]*//' "$1"; }

train fp32 -- --set training.device=cpu
train bf16 -- --set training.device=cpu --set training.precision=bf16
fp32_acc=$(last_accuracy fp32) bf16_acc=$(last_accuracy bf16)
awk -v a="$fp32_acc" -v b="$bf16_acc" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(b > 0.5 && d < 0.05) }' ||
  fail "bf16 accuracy $bf16_acc vs fp32 $fp32_acc: expected > 0.5 and within 0.05"
echo "ok: bf16 on the CPU trains: accuracy $bf16_acc (fp32: $fp32_acc)"
! cmp -s <(strip_timing fp32/run/metrics.jsonl) <(strip_timing bf16/run/metrics.jsonl) ||
  fail "the bf16 run's metrics equal the fp32 run's: autocast did nothing"

train bf16_np2 $MPIRUN -np 2 -- --set training.device=cpu --set training.precision=bf16
echo "ok: bf16 under mpirun -np 2: accuracy $(last_accuracy bf16_np2)"

best=$(grep -o '"val_accuracy":[^,}]*' bf16/run/metrics.jsonl | cut -d: -f2 | sort -g | tail -1)
"$TANDEM" eval --checkpoint bf16/run/best.safetensors > eval.json
got=$(grep -o '"accuracy":[^,}]*' eval.json | cut -d: -f2)
[ "$got" = "$best" ] || fail "eval of the bf16 best checkpoint: accuracy $got != recorded $best"
echo "ok: tandem eval of the bf16 run's best checkpoint prints the recorded accuracy ($got)"

# Weights for inference in bf16: PyTorch's state_dict with bfloat16 floating tensors (the int64
# num_batches_tracked as it is), which loads back into the float32 model.
"$TANDEM" convert bf16/run/last.safetensors weights_bf16.pt --dtype bf16 > /dev/null
"$TANDEM" inspect weights_bf16.pt > inspect_bf16.txt
grep -E "state_dict\.0\.weight +bfloat16" inspect_bf16.txt > /dev/null &&
  grep -E "state_dict\.1\.num_batches_tracked +int64" inspect_bf16.txt > /dev/null &&
  ! grep -E "state_dict\..* float32" inspect_bf16.txt > /dev/null ||
  { cat inspect_bf16.txt; fail "convert --dtype bf16 did not write bfloat16 weights"; }
"$TANDEM" eval cnn.yaml --checkpoint weights_bf16.pt --set training.device=cpu > eval_bf16.json
echo "ok: convert --dtype bf16 writes bfloat16 weights that evaluate: $(cat eval_bf16.json)"
if /usr/bin/python3 -c "import torch" 2>/dev/null; then
  /usr/bin/python3 -c "import sys, torch; sd = torch.load(sys.argv[1])['state_dict']; \
assert sd['0.weight'].dtype == torch.bfloat16 and sd['1.num_batches_tracked'].dtype == torch.int64" \
    weights_bf16.pt || fail "PyTorch does not read the bf16 export"
  echo "ok: PyTorch loads the bf16 export"
fi
expect_error 2 "dtype int8 is not a floating type" -- "$TANDEM" convert bf16/run/last.safetensors x.pt --dtype int8

expect_error 2 "training.precision.*fp16 needs training.device: cuda" -- \
  "$TANDEM" train cnn.yaml --set training.device=cpu --set training.precision=fp16

if ! "$TANDEM" train cnn.yaml --set training.device=cuda --set training.epochs=1 \
  --set data.synthetic_train_size=16 --set checkpoint.dir=probe > probe.log 2>&1 ||
  ! grep -q "device cuda:0 (emulated)" probe.log; then
  echo "SKIP: the cuda checks need the emulated device (TANDEM_EMULATE_CUDA)"
  exit 77
fi
train bf16_cuda -- --set training.device=cuda --set training.precision=bf16
diff <(strip_timing bf16/run/metrics.jsonl) <(strip_timing bf16_cuda/run/metrics.jsonl) ||
  fail "bf16 on cuda differs from bf16 on the CPU"
echo "ok: bf16 on the emulated cuda device == bf16 on the CPU"

train fp16 -- --set training.device=cuda --set training.precision=fp16
echo "ok: fp16 on cuda trains: accuracy $(last_accuracy fp16)"
"$TANDEM" inspect fp16/run/last.safetensors > inspect.txt
"$TANDEM" convert fp16/run/last.safetensors fp16.pt > /dev/null
"$TANDEM" convert fp16.pt fp16_back.safetensors > /dev/null
"$TANDEM" inspect fp16.pt > inspect_pt.txt
grep -q "scaler" inspect_pt.txt || { cat inspect_pt.txt; fail "the .pt export has no scaler entry"; }
echo "ok: the fp16 checkpoint's loss scaler is exported to .pt"
# Clipping sees true gradients: fp16 with clip_grad_norm 0.5 learns as fp32 with it does (were
# the scaled gradients clipped, every step would be 65536 times too small and the loss would stay
# near ln 4 = 1.39).
train clip_fp32 -- --set training.device=cuda --set training.epochs=1 --set training.clip_grad_norm=0.5
train clip_fp16 -- --set training.device=cuda --set training.epochs=1 --set training.clip_grad_norm=0.5 \
  --set training.precision=fp16
train_loss() { grep -o '"train_loss":[^,}]*' "$1/run/metrics.jsonl" | tail -1 | cut -d: -f2; }
a=$(train_loss clip_fp32) b=$(train_loss clip_fp16)
awk -v a="$a" -v b="$b" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(b < 0.7 && d < 0.1 + 0.1 * a) }' ||
  fail "fp16 with clipping: train loss $b, fp32 with clipping: $a (unscaled before clipping?)"
echo "ok: fp16 clips unscaled gradients: train loss $b (fp32: $a)"
# 512 / 16 = 32 steps per epoch: step 40 is in epoch 2.
mkdir -p fp16_term
(cd fp16_term && TANDEM_TEST_SIGTERM_AT_STEP=40 "$TANDEM" train ../cnn.yaml --set checkpoint.dir=run \
  --set training.device=cuda --set training.precision=fp16 > ../fp16_term.log 2>&1) ||
  { cat fp16_term.log; fail "the SIGTERM fp16 run did not exit 0"; }
train fp16_term -- --set training.device=cuda --set training.precision=fp16
grep -q "resuming from" fp16_term.log || fail "the fp16 rerun did not resume"
cmp fp16/run/last.safetensors fp16_term/run/last.safetensors ||
  fail "fp16 stopped mid-epoch and resumed: last.safetensors differs from the uninterrupted run"
echo "ok: fp16 with its loss scaler: stopped mid-epoch + resumed == uninterrupted (byte-identical)"
