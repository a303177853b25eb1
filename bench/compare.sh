#!/usr/bin/env bash
# tandem against PyTorch (issue #16): training images/s of the same model, data, optimizer,
# scheduler, batch and threads, in one command, and the ratio tandem/PyTorch (above 1: tandem is
# faster). Usage: bench/compare.sh [build-dir]
#
# Runs (THREADS threads per process, default 1, each process pinned to its own THREADS cores):
#   mlp         configs/fashion_mnist_mlp.yaml, batch 64
#   cnn         bench/configs/fashion_mnist_plain_cnn.yaml (conv-relu-pool x2, linear-relu-linear,
#               no BatchNorm/dropout; the cnn config's SGD + scheduler), batch 64
#   cnn_config  configs/fashion_mnist_cnn.yaml (BatchNorm, dropout), batch 128
#   resnet18    bench/configs/synthetic_resnet18.yaml: the zoo's resnet18 (torchvision's
#               structure: 7x7 stride-2 stem + max pooling) on synthetic 3x32x32 images, batch 32
#   cnn 2 ranks the cnn run on 2 ranks of 64 (global batch 128), reported as tandem's scaling over
#               its own 1-rank cnn run (PyTorch DDP over gloo is shown next to it)
#
# tandem: the real CLI through launch/tandem-run -np N (mpirun --bind-to core; -np 1 too, so
# every tandem run is bound as the 2-rank one), EPOCHS epochs of STEPS steps each
# (training.max_steps_per_epoch); the first epoch is the warm-up, and the number is the images/s
# of the other epochs from metrics.jsonl (images over rank 0's training time of the epoch: the
# data pipeline is included, evaluation is not), as bench/ddp_throughput.sh does.
# PyTorch: bench/torch_ddp.py on the resolved config of the same run (same layers or zoo ResNet,
# optimizer, scheduler, batch, threads, normalisation and flips), WARMUP untimed steps, then
# (EPOCHS-1) x STEPS timed ones, rank r pinned to core r; the synthetic dataset is random tensors
# of the same shape there (for throughput only the shape matters), made before timing.
# Every run is done REPEATS times and the table shows each cell's best repeat (the machine may be
# shared; a disturbed run is slower, never faster). Without PyTorch (/usr/bin/python3 -c 'import
# torch, yaml' fails) only tandem's numbers are shown.
# Environment: THREADS (training.threads and torch.set_num_threads of every process, default 1;
# the 2-rank run needs 2 x THREADS cores to be bound), PRECISION (training.precision of every
# run, default fp32; bf16 runs PyTorch under
# torch.autocast("cpu", torch.bfloat16)), RUNS (a subset of "mlp cnn cnn_config resnet18
# cnn_2ranks"), MLP_STEPS (default 469, half an epoch of 64), CNN_STEPS (80: cnn, cnn_config and
# the 2-rank run), RESNET_STEPS (30), EPOCHS (2), WARMUP (10), REPEATS (2), OUT (work directory,
# default a new /tmp/tandem_compare.XXXX). The defaults take about 5-6 minutes on the 2-core
# machine. Needs Debian's dataset-fashion-mnist; the PyTorch side python3-torch and python3-yaml.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
tandem="$build/launch/tandem"
py=/usr/bin/python3  # Debian's python3-torch; not a pyenv python3 on PATH
epochs=${EPOCHS:-2}
warmup=${WARMUP:-10}
repeats=${REPEATS:-2}
mlp_steps=${MLP_STEPS:-469}
cnn_steps=${CNN_STEPS:-80}
resnet_steps=${RESNET_STEPS:-30}
out=${OUT:-$(mktemp -d /tmp/tandem_compare.XXXX)}
mkdir -p "$out"
results="$out/results.jsonl"
: >"$results"
[ "$epochs" -ge 2 ] || { echo "EPOCHS must be at least 2 (the first is the warm-up)" >&2; exit 2; }
[ -x "$tandem" ] || { echo "no tandem executable at $tandem (build it first)" >&2; exit 2; }
echo "work directory: $out   (load average at start: $(cut -d' ' -f1-3 /proc/loadavg))"
if "$py" -c 'import torch, yaml' 2>/dev/null; then
  torch=1
else
  torch=0
  echo "PyTorch is not installed ($py -c 'import torch, yaml' failed): tandem's numbers only"
fi

# name: config ranks batch-per-rank steps
declare -A spec=(
  [mlp]="$root/configs/fashion_mnist_mlp.yaml 1 64 $mlp_steps"
  [cnn]="$here/configs/fashion_mnist_plain_cnn.yaml 1 64 $cnn_steps"
  [cnn_config]="$root/configs/fashion_mnist_cnn.yaml 1 128 $cnn_steps"
  [resnet18]="$here/configs/synthetic_resnet18.yaml 1 32 $resnet_steps"
  [cnn_2ranks]="$here/configs/fashion_mnist_plain_cnn.yaml 2 64 $cnn_steps"
)
precision=${PRECISION:-fp32}
threads=${THREADS:-1}
read -r -a runs <<<"${RUNS:-mlp cnn cnn_config resnet18 cnn_2ranks}"
declare -A tandem_best torch_best

# max A B, as a number (A may be empty)
max() { awk -v a="${1:-0}" -v b="$2" 'BEGIN { print (b + 0 > a + 0) ? b : a }'; }

for rep in $(seq 1 "$repeats"); do
  for run in "${runs[@]}"; do
    read -r config np batch steps <<<"${spec[$run]}"
    dir="$out/$run-$rep"
    sets=(--set "training.epochs=$epochs" --set "training.max_steps_per_epoch=$steps"
      --set "data.batch_size=$batch" --set "training.threads=$threads" --set "checkpoint.dir=$dir"
      --set checkpoint.keep_last=1 --set "training.precision=$precision")
    echo "== repeat $rep: $run, $np rank(s) x $threads thread(s), batch $batch per rank, $epochs x $steps steps, $precision"
    (set -x; TANDEM_BIN="$tandem" "$root/launch/tandem-run" -np "$np" train "$config" \
      "${sets[@]}" --resume never) >"$dir.tandem.log" 2>&1 || { cat "$dir.tandem.log"; exit 1; }
    # images/s of the epochs after the first, weighted by their training time
    tandem_ips=$(awk -F'[:,}]' '/"type":"epoch"/ {
        for (i = 1; i < NF; i++) { if ($i == "\"images_per_s\"") ips = $(i + 1); if ($i == "\"seconds\"") s = $(i + 1) }
        if (n++ > 0) { images += ips * s; seconds += s } }
      END { if (seconds > 0) printf "%.1f\n", images / seconds }' "$dir/metrics.jsonl")
    [ -n "$tandem_ips" ] || { echo "no timed epoch in $dir/metrics.jsonl" >&2; exit 1; }
    tandem_best[$run]=$(max "${tandem_best[$run]:-}" "$tandem_ips")
    torch_ips=null
    if [ "$torch" = 1 ]; then
      "$tandem" train "$config" "${sets[@]}" --print-config >"$dir.resolved.yaml"
      (set -x; "$py" "$here/torch_ddp.py" --nproc "$np" --bind --config "$dir.resolved.yaml" \
        --steps $(((epochs - 1) * steps)) --warmup "$warmup" --label "$run") \
        >"$dir.torch.log" 2>&1 || { cat "$dir.torch.log"; exit 1; }
      torch_ips=$(grep '^{' "$dir.torch.log" | tail -1 | sed 's/.*"images_per_s": *\([0-9.]*\).*/\1/')
      torch_best[$run]=$(max "${torch_best[$run]:-}" "$torch_ips")
    fi
    printf '{"repeat":%d,"run":"%s","ranks":%d,"threads":%d,"batch_per_rank":%d,"steps":%d,"tandem_ips":%s,"torch_ips":%s}\n' \
      "$rep" "$run" "$np" "$threads" "$batch" "$steps" "$tandem_ips" "$torch_ips" | tee -a "$results"
  done
done

# The table: best repeat per cell.
num() { awk -v x="$1" 'BEGIN { printf "%.0f", x }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
declare -A target=([mlp]=1.5x [cnn]=1.3x [cnn_config]=1.3x [resnet18]=1.0x)
echo
echo "| run ($precision) | batch | threads | tandem img/s | PyTorch img/s | tandem/PyTorch | target |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
for run in mlp cnn cnn_config resnet18; do
  [ -n "${tandem_best[$run]:-}" ] || continue
  read -r _ _ batch _ <<<"${spec[$run]}"
  t=${tandem_best[$run]}
  if [ "$torch" = 1 ]; then
    p=${torch_best[$run]}
    echo "| $run | $batch | $threads | $(num "$t") | $(num "$p") | $(ratio "$t" "$p") | ${target[$run]} |"
  else
    echo "| $run | $batch | $threads | $(num "$t") | - | - | ${target[$run]} |"
  fi
done
if [ -n "${tandem_best[cnn_2ranks]:-}" ] && [ -n "${tandem_best[cnn]:-}" ]; then
  t2=${tandem_best[cnn_2ranks]} t1=${tandem_best[cnn]}
  p2="-"
  if [ "$torch" = 1 ]; then
    p2="$(num "${torch_best[cnn_2ranks]}") (DDP gloo: $(ratio "${torch_best[cnn_2ranks]}" "${torch_best[cnn]}")x of 1 rank)"
  fi
  echo "| cnn, 2 ranks | 64 per rank (128) | $threads per rank | $(num "$t2") | $p2 | $(ratio "$t2" "$t1")x of tandem 1 rank | 1.85x of tandem 1 rank |"
fi
echo
echo "(best of $repeats repeats; steps per epoch: mlp $mlp_steps, cnn and cnn_config $cnn_steps," \
  "resnet18 $resnet_steps; tandem times $((epochs - 1)) epoch(s) after a warm-up epoch, PyTorch" \
  "as many steps after $warmup warm-up steps)"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
