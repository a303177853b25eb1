#!/usr/bin/env bash
# Data-parallel scaling over the GPUs of one machine, for a user who has them: trains CONFIG
# with `training.device: cuda` on 1, 2, 4, ... GPUs (and on all of them) through launch/tandem-run
# (a rank per GPU, NCCL), with the same batch per GPU (weak scaling, as DDP is used), and prints
# images/s, images/s per GPU and the scaling efficiency, throughput(N) / (N x throughput(1));
# then the all-reduce bus bandwidth at every message size on all the GPUs (bench_allreduce
# --device cuda: busbw = algbw x 2(n-1)/n, nccl-tests' definition, comparable with their
# all_reduce_perf numbers).
#
#   bash bench/gpu/ddp_scaling.sh [build-dir]      # a CUDA build (-DTANDEM_CUDA=ON), default build/
#
# Environment: CONFIG (default configs/fashion_mnist_cnn.yaml; synthetic data if the Fashion-MNIST
# files are missing), BATCH per GPU (256), STEPS per epoch (100), EPOCHS (3: the first is the
# warm-up; the number is the mean images/s of the others, from metrics.jsonl), MAX_GPUS (all),
# ALLREDUCE_SECONDS per message size (0.2), ALLREDUCE_MAX_BYTES (256 MiB), OUT (work directory;
# results.jsonl and table.txt go there). Under TANDEM_EMULATE_CUDA=N it runs on emulated devices:
# a smoke test of the script (ctest bench_ddp_scaling_smoke); the numbers mean nothing there.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
tandem=$build/launch/tandem
allreduce=$build/bench/bench_allreduce
run=$root/launch/tandem-run
for f in "$tandem" "$allreduce"; do [ -x "$f" ] || { echo "ddp_scaling: $f is missing: build $build first" >&2; exit 2; }; done
config=${CONFIG:-$root/configs/fashion_mnist_cnn.yaml}
batch=${BATCH:-256}
steps=${STEPS:-100}
epochs=${EPOCHS:-3}
allreduce_seconds=${ALLREDUCE_SECONDS:-0.2}
allreduce_max_bytes=${ALLREDUCE_MAX_BYTES:-268435456}
out=${OUT:-$(mktemp -d /tmp/tandem_ddp_scaling.XXXX)}
mkdir -p "$out"
results=$out/results.jsonl
: > "$results"

gpus=$(TANDEM_BIN="$tandem" "$run" --dry-run train "$config" | sed -n 's/^gpus: \([0-9]*\).*/\1/p')
[ "${gpus:-0}" -gt 0 ] || { echo "ddp_scaling: no GPU here ($(TANDEM_BIN="$tandem" "$run" --dry-run train "$config" | grep '^gpus:'))"; exit 0; }
max=${MAX_GPUS:-$gpus}
[ "$max" -le "$gpus" ] || max=$gpus
counts=()
for ((n = 1; n < max; n *= 2)); do counts+=("$n"); done
counts+=("$max")
data=()
if ! grep -q "dataset: synthetic" "$config" && [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  data=(--set data.dataset=synthetic --set 'data.synthetic_shape=[1,28,28]' --set data.synthetic_classes=10)
fi
echo "ddp_scaling: $(basename "$config"), batch $batch per GPU, $steps steps x $epochs epochs, GPUs: ${counts[*]} (of $gpus); work directory $out"

# Mean images/s of the epochs after the first (metrics.jsonl's epoch records).
throughput() {
  awk -F'"images_per_s":' '/"type":"epoch"/ && ++k > 1 { split($2, v, /[,}]/); s += v[1]; n++ }
    END { if (n) printf "%.1f", s / n; else print "nan" }' "$1"
}
for n in "${counts[@]}"; do
  dir=$out/np$n
  if ! TANDEM_BIN="$tandem" "$run" -np "$n" train "$config" --set training.device=cuda \
      --set data.batch_size="$batch" --set training.epochs="$epochs" \
      --set training.max_steps_per_epoch="$steps" --set training.log_every=100000 \
      --set checkpoint.dir="$dir" --resume never "${data[@]}" > "$out/np$n.log" 2>&1; then
    tail -20 "$out/np$n.log"
    echo "ddp_scaling: the $n-GPU run failed (log: $out/np$n.log)" >&2
    exit 1
  fi
  ips=$(throughput "$dir/metrics.jsonl")
  echo "{\"bench\":\"ddp_scaling\",\"gpus\":$n,\"batch_per_gpu\":$batch,\"images_per_s\":$ips}" >> "$results"
done

TANDEM_BIN="$allreduce" "$run" -np "$max" -- --device cuda --rounds 2 --seconds "$allreduce_seconds" \
  --max-bytes "$allreduce_max_bytes" > "$out/allreduce.jsonl" 2> "$out/allreduce.err" ||
  { cat "$out/allreduce.err"; echo "ddp_scaling: the all-reduce benchmark failed" >&2; exit 1; }
grep '^{' "$out/allreduce.jsonl" >> "$results" || true

{
  echo "training ($(basename "$config"), batch $batch per GPU):"
  printf '%6s %12s %12s %11s\n' GPUs images/s per-GPU efficiency
  awk -F'[:,}]' '/"ddp_scaling"/ {
      for (i = 1; i < NF; i++) { if ($i ~ /"gpus"/) g = $(i + 1); if ($i ~ /"images_per_s"/) v = $(i + 1) }
      if (g == 1) base = v
      e = base > 0 ? 100 * v / (g * base) : 0
      printf "%6d %12.0f %12.0f %10.1f%%\n", g, v, v / g, e }' "$results"
  echo
  echo "all-reduce on $max GPU(s), float32 (busbw = algbw x 2(n-1)/n):"
  printf '%12s %10s %12s %12s\n' bytes ms algbw_GB/s busbw_GB/s
  awk -F'[:,}]' '/"allreduce"/ {
      for (i = 1; i < NF; i++) { if ($i ~ /"bytes"/) b = $(i + 1); if ($i ~ /"tandem_ms"/) t = $(i + 1)
        if ($i ~ /"tandem_GBps"/) a = $(i + 1); if ($i ~ /"tandem_busbw_GBps"/) u = $(i + 1) }
      printf "%12d %10.3f %12.2f %12.2f\n", b, t, a, u }' "$results"
} | tee "$out/table.txt"
