#!/usr/bin/env bash
# tandem-run's plan on machines this one is not: a fake nvidia-smi (plain GPUs, MIG instances, two
# NUMA nodes), a fake sysfs and a fake srun. --dry-run prints how many ranks, how the GPUs were
# counted (CUDA_VISIBLE_DEVICES, MIG, the emulated device) and the binding; then real 2-rank
# runs under mpirun: bound per rank through a fake numactl (which records its arguments) to the
# NUMA node of the rank's GPU, and on emulated GPUs with training.device=cuda.
source "$(dirname "$0")/common.sh"
set -e
run=$TANDEM_SOURCE/launch/tandem-run
cfg="$TANDEM_SOURCE/configs/synthetic.yaml"
tiny=(--set training.epochs=1 --set data.synthetic_train_size=64 --set data.synthetic_test_size=32)
cd "$work"
mkdir -p bin sys
export PATH="$work/bin:$PATH" TANDEM_BIN="$TANDEM" TANDEM_RUN_SYSFS="$work/sys"
unset CUDA_VISIBLE_DEVICES TANDEM_EMULATE_CUDA SLURM_JOB_ID SLURM_NTASKS

# fake_gpus "GPU list" "bus ids": nvidia-smi answering -L and the PCI query.
fake_gpus() {
  printf '%s\n' "$1" > smi_list
  printf '%s\n' "$2" > smi_bus
  cat > bin/nvidia-smi << EOF
#!/bin/sh
case "\$1" in -L) cat "$work/smi_list" ;; --query-gpu=pci.bus_id) cat "$work/smi_bus" ;; *) exit 9 ;; esac
EOF
  chmod +x bin/nvidia-smi
}
# numa BUS NODE: the fake sysfs entry of a PCI device.
numa() { mkdir -p "sys/bus/pci/devices/$1" && echo "$2" > "sys/bus/pci/devices/$1/numa_node"; }
# plan ARGS...: the dry run's output; expect LINE: it holds that line.
plan() { "$run" --dry-run "$@" train "$cfg" > plan.txt; }
expect() { grep -qxF -- "$1" plan.txt || { cat plan.txt; fail "expected the line: $1"; }; }

# --- counting GPUs ------------------------------------------------------------------------------
four="GPU 0: NVIDIA H200 (UUID: GPU-aaaa)
GPU 1: NVIDIA H200 (UUID: GPU-bbbb)
GPU 2: NVIDIA H200 (UUID: GPU-cccc)
GPU 3: NVIDIA H200 (UUID: GPU-dddd)"
buses="00000000:1B:00.0
00000000:2B:00.0
00000000:9B:00.0
00000000:AB:00.0"
fake_gpus "$four" "$buses"
numa 0000:1b:00.0 0; numa 0000:2b:00.0 0; numa 0000:9b:00.0 1; numa 0000:ab:00.0 1
plan
expect "ranks: 4 (launcher: mpirun)"
expect "gpus: 4 (nvidia-smi -L)"
expect "binding: each rank on its GPU's NUMA node (GPU NUMA nodes by local rank: 0,0,1,1)"
grep -q -- "--bind-to none .*tandem-run --bind-rank $TANDEM train" plan.txt || { cat plan.txt; fail "ranks are not started through --bind-rank"; }
echo "ok: 4 GPUs on 2 NUMA nodes: 4 ranks, each bound to its GPU's node"

CUDA_VISIBLE_DEVICES=3,2 plan
expect "ranks: 2 (launcher: mpirun)"
expect "gpus: 2 (CUDA_VISIBLE_DEVICES=3,2)"
# Both on NUMA node 1: nothing to choose between, so ranks are bound to cores as without GPUs.
grep -q "^binding: one core per rank\|^binding: none" plan.txt || { cat plan.txt; fail "one NUMA node should bind to cores"; }
CUDA_VISIBLE_DEVICES=GPU-bbbb,GPU-cccc plan
expect "binding: each rank on its GPU's NUMA node (GPU NUMA nodes by local rank: 0,1)"
CUDA_VISIBLE_DEVICES= plan
expect "ranks: 2 (launcher: mpirun)"
expect "gpus: 0 (CUDA_VISIBLE_DEVICES=)"
echo "ok: CUDA_VISIBLE_DEVICES (indices, UUIDs, empty) decides the count and the placement"

# --- threads per rank: each rank gets training.threads cores --------------------------------------
cores=$(nproc)
if [ "$cores" -ge 2 ]; then
  CUDA_VISIBLE_DEVICES= "$run" --dry-run -np 1 train "$cfg" --set training.threads=2 > plan.txt
  expect "binding: 2 cores per rank (training.threads)"
  grep -q -- "--map-by slot:PE=2 --bind-to core" plan.txt || { cat plan.txt; fail "no PE=2 mapping"; }
fi
CUDA_VISIBLE_DEVICES= "$run" --dry-run -np 1 train "$cfg" --set training.threads=$((cores + 1)) > plan.txt
expect "binding: none (1 ranks x $((cores + 1)) threads > $cores cores)"
echo "ok: ranks are bound to training.threads cores each, or not bound when they do not fit"

fake_gpus "GPU 0: NVIDIA H200 (UUID: GPU-aaaa)
  MIG 3g.71gb     Device  0: (UUID: MIG-1111)
  MIG 3g.71gb     Device  1: (UUID: MIG-2222)
GPU 1: NVIDIA H200 (UUID: GPU-bbbb)" "00000000:1B:00.0
00000000:2B:00.0"
plan
expect "ranks: 3 (launcher: mpirun)"
expect "gpus: 3 (nvidia-smi -L, MIG instances counted one by one)"
echo "ok: a GPU split into MIG instances counts once per instance"

# No GPU: nvidia-smi fails as it does without a driver (a fake, so a real one on PATH is not asked).
printf '#!/bin/sh\necho "NVIDIA-SMI has failed" >&2\nexit 9\n' > bin/nvidia-smi
plan
expect "ranks: 2 (launcher: mpirun)"
expect "gpus: 0 (nvidia-smi -L)"
TANDEM_EMULATE_CUDA=3 plan
expect "ranks: 3 (launcher: mpirun)"
expect "gpus: 3 (TANDEM_EMULATE_CUDA: emulated devices, no NUMA placement)"
"$run" --dry-run -np 5 train "$cfg" > plan.txt
expect "ranks: 5 (launcher: mpirun)"
echo "ok: no GPU: 2 ranks; emulated devices count; -np wins"

# --- Slurm --------------------------------------------------------------------------------------
printf '#!/bin/sh\necho "srun $*" > "%s/srun.args"\n' "$work" > bin/srun
chmod +x bin/srun
SLURM_JOB_ID=7 SLURM_NTASKS=6 plan
expect "ranks: 6 (launcher: srun)"
grep -q "^command: srun --ntasks=6 --kill-on-bad-exit=1 $TANDEM train" plan.txt || { cat plan.txt; fail "srun command"; }
SLURM_JOB_ID=7 "$run" --launcher mpirun --dry-run train "$cfg" > plan.txt
expect "ranks: 2 (launcher: mpirun)"
SLURM_JOB_ID=7 SLURM_NTASKS=2 "$run" train "$cfg" --set seed=1
grep -qx "srun --ntasks=2 --kill-on-bad-exit=1 $TANDEM train $cfg --set seed=1" srun.args || { cat srun.args; fail "srun was not run as planned"; }
rm bin/srun
echo "ok: inside a Slurm allocation tandem-run runs srun with SLURM_NTASKS ranks (--launcher mpirun overrides)"

# --- bad options --------------------------------------------------------------------------------
expect_error 2 "^tandem-run: error: -np takes a positive number, got 'x'" -- "$run" -np x train "$cfg"
expect_error 2 "^tandem-run: error: --launcher takes mpirun or srun, got 'pbs'" -- "$run" --launcher pbs train "$cfg"
expect_error 2 "^tandem-run: error: unknown option '--np'" -- "$run" --np 2 train "$cfg"

# --- real runs under mpirun ---------------------------------------------------------------------
# Bound to NUMA nodes: the fake numactl records each rank's binding and runs the rank.
fake_gpus "$four" "$buses"
printf '#!/bin/sh\necho "$1 $2 rank=$OMPI_COMM_WORLD_LOCAL_RANK" >> "%s/numactl.log"\nshift 2\nexec "$@"\n' "$work" > bin/numactl
chmod +x bin/numactl
CUDA_VISIBLE_DEVICES=1,2 "$run" train "$cfg" "${tiny[@]}" --set checkpoint.dir=bound > bound.log 2>&1 ||
  { cat bound.log; fail "the NUMA-bound run failed"; }
sort numactl.log > numactl.sorted
printf '%s\n' "--cpunodebind=0 --membind=0 rank=0" "--cpunodebind=1 --membind=1 rank=1" | diff - numactl.sorted ||
  fail "ranks were not bound to their GPU's NUMA node"
[ -s bound/last.safetensors ] || fail "the NUMA-bound run wrote no checkpoint"
rm bin/numactl
echo "ok: 2 ranks under mpirun, each bound to its GPU's NUMA node (0, 1), trained"
# GPU ranks on emulated devices: README's GPU twin of the set-up's training command.
TANDEM_EMULATE_CUDA=2 "$run" train "$cfg" "${tiny[@]}" --set training.device=cuda --set checkpoint.dir=gpu > gpu.log 2>&1 ||
  { cat gpu.log; fail "the 2-GPU (emulated) run failed"; }
grep -qF "devices [rank 0: cuda:0, rank 1: cuda:1] (emulated)" gpu.log || { cat gpu.log; fail "the banner does not say which device each rank uses"; }
[ -s gpu/last.safetensors ] || fail "the emulated GPU run wrote no checkpoint"
grep -qE "^peak resident memory: [0-9]+\.[0-9] MiB \(largest rank\)$" gpu.log || { cat gpu.log; fail "no peak memory line"; }
echo "ok: tandem-run trains on 2 emulated GPUs, one per rank"
echo "all tandem-run checks passed"
