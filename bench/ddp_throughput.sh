#!/usr/bin/env bash
# Data-parallel training throughput, tandem against PyTorch DDP (gloo), at 1 and 2 ranks, for the
# Fashion-MNIST MLP and CNN configs. Usage: bench/ddp_throughput.sh [build-dir]
#
# data.batch_size is per rank in tandem (the global batch is batch_size x ranks), so to keep the
# global batch at GLOBAL_BATCH (default 128, the configs' 64 per rank at 2 ranks) a 1-rank run
# uses batch_size 128 and a 2-rank run 64. Threads per rank are the configs' training.threads (1).
#
# tandem: the real CLI through launch/tandem-run (mpirun, --bind-to core), EPOCHS epochs of STEPS
# steps each (training.max_steps_per_epoch); the first epoch is the warm-up, and the number is
# the images/s over the other epochs from metrics.jsonl (images_per_s is global images over rank
# 0's training time of the epoch; evaluation is not included).
# PyTorch: bench/torch_ddp.py on the resolved config of the same run (same layers, optimizer,
# scheduler, batch, threads, DistributedSampler), WARMUP untimed steps, then (EPOCHS-1) x STEPS
# timed ones, rank r pinned to core r as mpirun's --bind-to core does.
# The whole set runs REPEATS times and the table shows each cell's best repeat (the machine is
# shared; a disturbed run is slower, never faster).
# Environment: MLP_STEPS (default 469, a full epoch), CNN_STEPS (60), EPOCHS (3), WARMUP (20),
# REPEATS (2), GLOBAL_BATCH (128), OUT (work directory, default a new /tmp/tandem_ddp_bench.XXXX).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
tandem="$build/launch/tandem"
py=/usr/bin/python3  # Debian's python3-torch; not a pyenv python3 on PATH
global=${GLOBAL_BATCH:-128}
warmup=${WARMUP:-20}
epochs=${EPOCHS:-3}
repeats=${REPEATS:-2}
out=${OUT:-$(mktemp -d /tmp/tandem_ddp_bench.XXXX)}
mkdir -p "$out"
results="$out/results.jsonl"
: >"$results"
echo "work directory: $out   (load average: $(cut -d' ' -f1-3 /proc/loadavg))"

for rep in $(seq 1 "$repeats"); do
  for model in mlp cnn; do
    config="$root/configs/fashion_mnist_$model.yaml"
    case $model in mlp) steps=${MLP_STEPS:-469} ;; cnn) steps=${CNN_STEPS:-60} ;; esac
    for np in 1 2; do
      batch=$((global / np))
      dir="$out/$model-np$np-$rep"
      sets=(--set "training.epochs=$epochs" --set "training.max_steps_per_epoch=$steps"
        --set "data.batch_size=$batch" --set "checkpoint.dir=$dir" --set checkpoint.keep_last=1)
      echo "== repeat $rep: $model, $np rank(s), batch $batch per rank, $epochs x $steps steps"
      (set -x; TANDEM_BIN="$tandem" "$root/launch/tandem-run" -np "$np" train "$config" \
        "${sets[@]}" --resume never) >"$dir.tandem.log" 2>&1 || { cat "$dir.tandem.log"; exit 1; }
      tandem_ips=$("$py" -c 'import json, sys
ep = [r for r in map(json.loads, open(sys.argv[1])) if r["type"] == "epoch"][1:]
print(sum(r["images_per_s"] * r["seconds"] for r in ep) / sum(r["seconds"] for r in ep))' \
        "$dir/metrics.jsonl")
      "$tandem" train "$config" "${sets[@]}" --print-config >"$dir.resolved.yaml"
      (set -x; "$py" "$here/torch_ddp.py" --nproc "$np" --bind --config "$dir.resolved.yaml" \
        --steps $(((epochs - 1) * steps)) --warmup "$warmup" --label "$model") \
        >"$dir.torch.log" 2>&1 || { cat "$dir.torch.log"; exit 1; }
      torch_ips=$("$py" -c 'import json, sys
print([json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")][-1]["images_per_s"])' \
        "$dir.torch.log")
      threads=$(sed -n 's/^  threads: //p' "$dir.resolved.yaml")
      printf '{"repeat":%d,"model":"%s","ranks":%d,"threads":%d,"batch_per_rank":%d,"steps":%d,%s\n' \
        "$rep" "$model" "$np" "$threads" "$batch" "$steps" \
        "\"tandem_ips\":$tandem_ips,\"torch_ips\":$torch_ips}" | tee -a "$results"
    done
  done
done

"$py" - "$results" <<'PY'
import json, sys
rows = {}
for r in map(json.loads, open(sys.argv[1])):  # best repeat per cell, per framework
    b = rows.setdefault((r["model"], r["ranks"]), dict(r))
    for k in ("tandem_ips", "torch_ips"):
        b[k] = max(b[k], r[k])
rows = list(rows.values())
one = {r["model"]: r for r in rows if r["ranks"] == 1}
print(f"\n{'model':6} {'ranks':>5} {'thr/rank':>8} {'batch/rank':>10} {'tandem img/s':>13} "
      f"{'torch img/s':>12} {'torch/tandem':>12} {'tandem eff':>10} {'torch eff':>10}")
for r in rows:
    b = one[r["model"]]
    eff = lambda k: f"{r[k] / (r['ranks'] * b[k]):10.2f}" if r["ranks"] > 1 else f"{'-':>10}"
    print(f"{r['model']:6} {r['ranks']:5} {r['threads']:8} {r['batch_per_rank']:10} "
          f"{r['tandem_ips']:13.0f} {r['torch_ips']:12.0f} "
          f"{r['torch_ips'] / r['tandem_ips']:12.2f} "
          f"{eff('tandem_ips')} {eff('torch_ips')}")
print("(best of the repeats; scaling efficiency = 2-rank images/s / (2 x 1-rank images/s); "
      f"global batch {rows[0]['batch_per_rank'] * rows[0]['ranks']} for every run)")
PY
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
