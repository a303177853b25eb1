#!/usr/bin/env bash
# The GPU check's runner. tests/gpu/bundle.sh copies it into gpu-bundle/ next to payload.tar.xz;
# tests/gpu/check.sh calls it. On the machine it runs on it:
#   1. unpacks the payload (bin/, bench/, lib/, configs/, fixtures/) under $TMPDIR once per payload;
#   2. sets LD_LIBRARY_PATH: the bundle's lib/, then NVIDIA's libraries (Python site-packages
#      nvidia/*/lib, found through python3 or a glob; or $TANDEM_NVIDIA_LIB_DIRS), the CUDA
#      toolkit's lib64, the driver's folder, the caller's LD_LIBRARY_PATH, and lib/compat only
#      when the system has no libstdc++/libgcc_s;
#   3. prints the machine, nvidia-smi, `tandem --version` and where every library resolves
#      (a library not found fails the check; --strict-libs also fails one taken from the system
#      that is not glibc's, the C++ runtime's or NVIDIA's);
#   4. runs every test binary directly (not ctest: its files hold the build machine's paths),
#      several at a time, each with a timeout, GTEST_OUTPUT and TANDEM_FIXTURES_DIR; on a GPU,
#      reruns the failed tests of each binary with CUDA_LAUNCH_BLOCKING=1, to name the faulting
#      kernel;
#   5. trains configs/synthetic.yaml for one epoch without mpirun on the CPU, then on `cuda`
#      (when a device is seen or TANDEM_EMULATE_CUDA is set); on a real GPU, trains the CNN config
#      twice on synthetic data and checks every step's loss is bit-identical, and runs
#      compute-sanitizer (memcheck, racecheck) over the cuda instances of the kernel tests; then
#      runs the GPU benchmarks (bench/run.sh, the driver of bench/gpu/, alone when the bundle has
#      it: it runs the benchmark binary and PyTorch's baseline itself and prints one table);
#   6. prints one summary table. Logs go to $OUT when set (gpu-check.log, summary.txt,
#      logs.tar.gz: three files, as a device call brings back at most eight), else under the
#      work folder. Exit status 0 when nothing failed.
# Everything stays under the time budget (TANDEM_GPU_CHECK_BUDGET, 450 s): a step that would
# start after it is skipped and says so.
#
# Usage: run.sh [--emulated] [--strict-libs] [--jobs N] [--filter REGEX] [--bench-only]
#   --emulated     TANDEM_EMULATE_CUDA=2 (unless set): the `cuda` device served by host memory
#   --strict-libs  fail when a library resolves from the system that is not glibc's, the C++
#                  runtime's (libstdc++, libgcc_s) or the NVIDIA driver's
#   --jobs N       test binaries run at a time (default: min(nproc, 8))
#   --filter RE    run only the test binaries whose name matches RE (grep -E)
#   --bench-only   no test binaries and no training runs: the GPU benchmarks alone
# Environment passed through to every step: TANDEM_* (e.g. TANDEM_EMULATE_CUDA), CUDA_*,
# NCCL_*, GTEST_*.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
started=$(date +%s)
budget=${TANDEM_GPU_CHECK_BUDGET:-450}
strict=0
filter=.
bench_only=0
cores=$(nproc 2> /dev/null || echo 2)
jobs=$((cores < 8 ? cores : 8))
while [ $# -gt 0 ]; do
  case $1 in
    --emulated) export TANDEM_EMULATE_CUDA=${TANDEM_EMULATE_CUDA:-2}; shift ;;
    --strict-libs) strict=1; shift ;;
    --jobs) jobs=$2; shift 2 ;;
    --filter) filter=$2; shift 2 ;;
    --bench-only) bench_only=1; filter='^$'; shift ;;
    -h|--help) sed -n '2,32p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

# --- work folder, logs and the payload ---------------------------------------------------------
work=${TANDEM_GPU_WORK:-${TMPDIR:-/tmp}/tandem-gpu-check}
logs=$work/logs
rm -rf "$logs" "$work/runs"
mkdir -p "$logs" "$work/runs" || exit 1
elapsed() { echo $(($(date +%s) - started)); }
is_elf() { [ -f "$1" ] && [ "$(head -c 4 "$1" | od -An -c | tr -d ' ')" = '177ELF' ]; }

# main: every step; the end of this file pipes its output through tee into $OUT/gpu-check.log.
main() {
say() { printf '\n== %s  [%ss]\n' "$*" "$(elapsed)"; }

payload=$here/payload.tar.xz
[ -f "$payload" ] || { echo "run.sh: no $payload (build it with tests/gpu/bundle.sh)" >&2; exit 1; }
bundle=$work/bundle
stamp=$(cksum < "$payload")
if [ "$(cat "$work/.payload" 2> /dev/null)" != "$stamp" ]; then
  rm -rf "$bundle"
  mkdir -p "$bundle"
  if command -v xz > /dev/null; then
    xz -dc "$payload" | tar -C "$bundle" -xf - || exit 1
  else  # Python's tarfile reads xz without the xz tool; the image's python may not be on PATH
    unpacked=
    for py in ${PYTHON:-} python3 /opt/torch/.venv/bin/python3; do
      command -v "$py" > /dev/null || continue
      "$py" -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' \
        "$payload" "$bundle" && unpacked=1 && break
    done
    [ -n "$unpacked" ] || { echo "run.sh: neither xz nor a python3 to unpack $payload" >&2; exit 1; }
  fi
  echo "$stamp" > "$work/.payload"
fi

# --- results: one row per step --------------------------------------------------------------
# record NAME STATUS SECONDS DETAIL  (STATUS: PASS, FAIL, TIMEOUT, SKIP)
record() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >> "$logs/results.tsv"; }
: > "$logs/results.tsv"
out_of_time() { [ "$(elapsed)" -ge "$budget" ]; }
# A step's timeout: its own, or what is left of the budget if that is less (at least 10 s).
limit() {
  local left=$((budget - $(elapsed)))
  [ "$left" -lt 10 ] && left=10
  echo $(($1 < left ? $1 : left))
}
status_of() {  # exit code -> PASS / TIMEOUT / FAIL
  case $1 in 0) echo PASS ;; 124 | 137) echo TIMEOUT ;; *) echo FAIL ;; esac
}

# --- the machine and the libraries -----------------------------------------------------------
say "machine"
echo "host $(uname -n), kernel $(uname -r), $(. /etc/os-release 2> /dev/null && echo "${PRETTY_NAME:-unknown OS}"), $cores cores"
echo "glibc $(getconf GNU_LIBC_VERSION 2> /dev/null | awk '{print $2}')"
sed -n '2,3p' "$here/MANIFEST.txt" 2> /dev/null
[ -n "${TANDEM_EMULATE_CUDA:-}" ] && echo "TANDEM_EMULATE_CUDA=$TANDEM_EMULATE_CUDA (emulated CUDA device)"

# NVIDIA's shared libraries on this machine, most specific first.
cuda_home=${CUDA_HOME:-${CUDA_PATH:-/usr/local/cuda}}
nvidia_dirs=()
add_dir() { [ -d "$1" ] && nvidia_dirs+=("$1"); }
if [ -n "${TANDEM_NVIDIA_LIB_DIRS:-}" ]; then
  IFS=: read -r -a given <<< "$TANDEM_NVIDIA_LIB_DIRS"
  for d in "${given[@]}"; do add_dir "$d"; done
else
  for py in ${PYTHON:-} python3 /opt/torch/.venv/bin/python3; do
    command -v "$py" > /dev/null || continue
    while read -r d; do add_dir "$d"; done < <("$py" - 2> /dev/null << 'PY'
import glob, os
try:
    import nvidia
except ImportError:
    raise SystemExit
for p in nvidia.__path__:
    for d in sorted(glob.glob(os.path.join(p, "*", "lib"))):
        print(d)
PY
)
    [ ${#nvidia_dirs[@]} -gt 0 ] && break
  done
  if [ ${#nvidia_dirs[@]} -eq 0 ]; then
    for d in /opt/*/.venv/lib/python3*/site-packages/nvidia/*/lib \
      /usr/local/lib/python3*/dist-packages/nvidia/*/lib /usr/lib/python3/dist-packages/nvidia/*/lib; do
      add_dir "$d"
    done
  fi
  add_dir "$cuda_home/lib64"
  add_dir "$cuda_home/targets/x86_64-linux/lib"
  add_dir /usr/local/nvidia/lib64
  add_dir /usr/local/nvidia/lib
fi
ld_path=$bundle/lib
for d in "${nvidia_dirs[@]}"; do ld_path+=:$d; done
[ -n "${LD_LIBRARY_PATH:-}" ] && ld_path+=:$LD_LIBRARY_PATH
system_libs=$({ /sbin/ldconfig -p || ldconfig -p; } 2> /dev/null)  # (grep -q in a pipe would SIGPIPE it)
if ! grep -q 'libgcc_s\.so\.1 ' <<< "$system_libs" || ! grep -q 'libstdc++\.so\.6 ' <<< "$system_libs"; then
  ld_path+=:$bundle/lib/compat
fi
export LD_LIBRARY_PATH=$ld_path
# Not under mpirun: tandem must start alone, without MPI_Init (parallel/distributed.cpp).
unset OMPI_COMM_WORLD_SIZE PMI_SIZE PMIX_RANK
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-2}
echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"

say "nvidia-smi"
if command -v nvidia-smi > /dev/null; then
  t0=$(date +%s)
  timeout 30 nvidia-smi 2>&1 | tee "$logs/nvidia-smi.log"
  rc=${PIPESTATUS[0]}
  record nvidia-smi "$(status_of "$rc")" $(($(date +%s) - t0)) "exit $rc"
else
  echo "no nvidia-smi on this machine"
  record nvidia-smi SKIP 0 "not installed"
fi

say "libraries"
elfs=("$bundle"/bin/*)
for f in "$bundle"/bench/*; do is_elf "$f" && elfs+=("$f"); done
glibc='^(linux-vdso|ld-linux-x86-64|libc|libm|libmvec|libdl|libpthread|librt|libresolv|libutil|libanl|libnsl)\.so'
# The driver's libraries, and the C++ runtime that cuDNN, NCCL and libgfortran need (every
# machine with PyTorch has it; lib/compat stands in where the system lacks it).
driver='^lib(cuda|nvidia-.*|stdc\+\+|gcc_s)\.so'
for f in "${elfs[@]}"; do ldd "$f" 2>&1 | sed "s|^|$(basename "$f"): |"; done > "$logs/ldd.log"
awk -F': ' '{print $2}' "$logs/ldd.log" | awk '$2 == "=>" {print $1, $3}' | sort -u > "$logs/resolved.txt"
not_found=$(awk '$2 == "not" {print $1}' "$logs/resolved.txt" | sort -u | tr '\n' ' ')
# A glibc older than the bundle needs shows as "version `GLIBC_2.36' not found" lines.
not_found+=$(grep -o "version \`[A-Z_0-9.]*' not found" "$logs/ldd.log" | sort -u | tr '\n' ' ')
need=$(sed -n 's/.*glibc >= \([0-9][0-9.]*\).*/\1/p' "$here/MANIFEST.txt" 2> /dev/null | head -1)
have=$(getconf GNU_LIBC_VERSION 2> /dev/null | awk '{print $2}')
if [ -n "$need" ] && [ -n "$have" ] && [ "$(printf '%s\n%s\n' "$need" "$have" | sort -V | head -1)" != "$need" ]; then
  echo "this machine's glibc $have is older than the $need the bundle needs"
  not_found+="glibc>=$need "
fi
foreign=""
while read -r soname path; do
  [ "$path" = not ] && continue
  case $path in "$bundle"/lib/*) continue ;; esac
  inside=0
  for d in "${nvidia_dirs[@]}"; do case $path in "$d"/*) inside=1 ;; esac; done
  [ $inside = 1 ] && continue
  [[ $soname =~ $glibc || $soname =~ $driver ]] && continue
  foreign+="$soname=$path "
done < "$logs/resolved.txt"
# One line per library: where this machine's loader takes it from.
awk '{print "  " $1 " => " $2}' "$logs/resolved.txt" | sed "s|$bundle|<bundle>|" | sort -u
if [ -n "$not_found" ]; then
  record libraries FAIL 0 "not found: $not_found"
elif [ -n "$foreign" ] && [ $strict = 1 ]; then
  record libraries FAIL 0 "from the system: $foreign"
else
  record libraries PASS 0 "$(wc -l < "$logs/resolved.txt") resolved, $(grep -c " $bundle/" "$logs/resolved.txt") from the bundle${foreign:+; from the system: $foreign}"
fi

say "tandem --version"
t0=$(date +%s)
timeout 60 "$bundle/bin/tandem" --version > "$logs/version.log" 2>&1
rc=$?
cat "$logs/version.log"
has_device=0
grep -qE '^  cuda:[0-9]' "$logs/version.log" && has_device=1
status=$(status_of $rc)
if [ $has_device = 1 ]; then
  detail=$(grep -m1 -E '^  cuda:[0-9]' "$logs/version.log" | sed 's/^ *//')
else
  detail=$(grep -m1 '^devices:' "$logs/version.log" | cut -c1-110)
  # A GPU that nvidia-smi lists and tandem does not see is a failure, not a reason to skip.
  if grep -q '^GPU [0-9]' <<< "$(nvidia-smi -L 2> /dev/null)"; then
    status=FAIL
    detail="nvidia-smi lists a GPU, tandem sees none: $detail"
  fi
fi
# cuBLASLt is opened at the first GPU matrix product (not linked, so ldd above does not list it):
# --version loads it, and one it could not load fails here rather than in every GEMM test.
if grep -q 'not loadable' "$logs/version.log"; then
  status=FAIL
  detail="$(grep -m1 'not loadable' "$logs/version.log" | cut -c1-150)"
fi
record "tandem --version" "$status" $(($(date +%s) - t0)) "$detail"

# --- test binaries ----------------------------------------------------------------------------
say "test binaries ($jobs at a time)"
export TANDEM_FIXTURES_DIR=$bundle/fixtures
run_test() {  # NAME: runs bin/NAME, writes logs/NAME.log, .xml and .result
  local name=$1 t0 rc passed skipped failed status
  t0=$(date +%s)
  (cd "$work/runs" && GTEST_OUTPUT=xml:$logs/$name.xml timeout -k 10 "$(limit "${TANDEM_TEST_TIMEOUT:-240}")" \
    "$bundle/bin/$name" > "$logs/$name.log" 2>&1)
  rc=$?
  passed=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) tests\{0,1\}\..*/\1/p' "$logs/$name.log" | tail -1)
  skipped=$(sed -n 's/^\[  SKIPPED \] \([0-9]*\) tests\{0,1\}, listed below.*/\1/p' "$logs/$name.log" | tail -1)
  failed=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) tests\{0,1\}, listed below.*/\1/p' "$logs/$name.log" | tail -1)
  status=$(status_of $rc)
  printf '%s\t%s\t%s\t%s passed, %s failed, %s skipped%s\n' "$name" "$status" $(($(date +%s) - t0)) \
    "${passed:-0}" "${failed:-0}" "${skipped:-0}" "$([ $rc -gt 128 ] && [ $rc != 137 ] && echo ", killed by signal $((rc - 128))")" \
    > "$logs/$name.result"
}
tests=()
for f in "$bundle"/bin/test_*; do
  name=$(basename "$f")
  grep -qE -- "$filter" <<< "$name" && tests+=("$name")
done
for name in "${tests[@]}"; do
  if out_of_time; then
    printf '%s\tSKIP\t0\tout of time budget (%ss)\n' "$name" "$budget" > "$logs/$name.result"
    continue
  fi
  run_test "$name" &
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n; done
done
wait
for name in "${tests[@]}"; do
  cat "$logs/$name.result" >> "$logs/results.tsv"
  printf '  %-28s %s\n' "$name" "$(cut -f2,4 "$logs/$name.result" | tr '\t' ' ')"
  grep -E '^\[  FAILED  \] [A-Za-z]' "$logs/$name.log" | sort -u | sed 's/^/      /' | head -20
done

# --- failed tests again, with every kernel launch synchronous --------------------------------
# A kernel's fault (an illegal address, a misaligned access) is reported by whichever CUDA call
# comes next, often in a later test, and poisons the context for the rest of the binary.
# CUDA_LAUNCH_BLOCKING=1 makes each launch wait for its kernel, so rerunning the failed tests
# (or, for a binary that died, the test it was running) names the kernel and test at fault.
# On a real device only (TANDEM_GPU_RERUN_FAILED=1 forces it), within 60 s per binary.
rerun_blocking() {  # NAME
  local name=$1 filter t0 rc first
  filter=$(sed -n 's/^\[  FAILED  \] \([A-Za-z][^ ,]*\).*/\1/p' "$logs/$name.log" | sort -u | paste -sd: -)
  [ -n "$filter" ] || filter=$(sed -n 's/^\[ RUN      \] \([^ ,]*\).*/\1/p' "$logs/$name.log" | tail -1)
  [ -n "$filter" ] || return 0
  if out_of_time; then record "$name (blocking)" SKIP 0 "out of time budget"; return; fi
  t0=$(date +%s)
  (cd "$work/runs" && CUDA_LAUNCH_BLOCKING=1 timeout -k 10 "$(limit 60)" "$bundle/bin/$name" \
    --gtest_filter="$filter") > "$logs/$name.blocking.log" 2>&1
  rc=$?
  first=$(grep -v -E '^unknown file: Failure|^\[' "$logs/$name.blocking.log" |
    grep -m1 -E 'exception|error|Failure|failed' | cut -c1-110)
  record "$name (blocking)" "$(status_of $rc)" $(($(date +%s) - t0)) \
    "CUDA_LAUNCH_BLOCKING=1 rerun of $(tr ':' '\n' <<< "$filter" | wc -l) test(s)${first:+: $first}"
  printf '  %s, with CUDA_LAUNCH_BLOCKING=1:\n' "$name"
  grep -E '^\[  FAILED  \] [A-Za-z]|exception|error|Failure' "$logs/$name.blocking.log" |
    sed 's/^/      /' | head -10
}
if [ $has_device = 1 ] || [ -n "${TANDEM_GPU_RERUN_FAILED:-}" ]; then
  failed_tests=$(awk -F'\t' '$2 != "PASS" && $2 != "SKIP" {print $1}' "$logs/results.tsv" | grep '^test_')
  [ -z "$failed_tests" ] || say "failed test binaries again, with CUDA_LAUNCH_BLOCKING=1"
  for name in $failed_tests; do rerun_blocking "$name"; done
fi

# --- training without mpirun ------------------------------------------------------------------
train() {  # NAME DEVICE [PRECISION]
  local name=$1 device=$2 precision=${3:-fp32} t0 rc detail
  say "$name: tandem train configs/synthetic.yaml on $device ($precision), 1 epoch, no mpirun"
  if out_of_time; then record "$name" SKIP 0 "out of time budget"; return; fi
  t0=$(date +%s)
  (cd "$work/runs" && timeout -k 10 "$(limit 120)" "$bundle/bin/tandem" train "$bundle/configs/synthetic.yaml" \
    --set training.device="$device" --set training.epochs=1 --set checkpoint.dir="$work/runs/$name" \
    --set training.precision="$precision" --resume never) > "$logs/$name.log" 2>&1
  rc=$?
  tail -5 "$logs/$name.log"
  detail="exit $rc"
  if [ $rc -eq 0 ]; then
    [ -f "$work/runs/$name/last.safetensors" ] || { rc=1; detail="no last.safetensors written"; }
    [ $rc -eq 0 ] && detail=$(grep -E '^epoch [0-9]+/[0-9]+: ' "$logs/$name.log" | tail -1 | cut -c1-90)
  else
    detail="exit $rc: $(grep -m1 '^error' "$logs/$name.log" | cut -c1-90)"
  fi
  record "$name" "$(status_of $rc)" $(($(date +%s) - t0)) "$detail"
}
if [ $bench_only = 1 ]; then
  echo "(--bench-only: no training runs)"
else
  train train-cpu cpu
  if [ $has_device = 1 ] || [ -n "${TANDEM_EMULATE_CUDA:-}" ]; then
    train train-cuda cuda
    train train-cuda-bf16 cuda bf16  # mixed precision: autocast, float32 master weights
    train train-cuda-fp16 cuda fp16  # and the loss scaler
  else
    record train-cuda SKIP 0 "no CUDA device (--emulated uses the emulated one)"
  fi
fi

# --- determinism: the CNN config twice on synthetic data, every step's loss bit-identical -----
deterministic_twice() {
  local t0 rc a b
  say "determinism: configs/fashion_mnist_cnn.yaml on synthetic data, cuda, twice"
  if out_of_time; then record determinism SKIP 0 "out of time budget"; return; fi
  t0=$(date +%s)
  for run in a b; do
    (cd "$work/runs" && timeout -k 10 "$(limit 120)" "$bundle/bin/tandem" train \
      "$bundle/configs/fashion_mnist_cnn.yaml" --set training.device=cuda \
      --set data.dataset=synthetic --set 'data.synthetic_shape=[1, 28, 28]' \
      --set data.synthetic_classes=10 --set data.synthetic_train_size=2048 \
      --set data.synthetic_test_size=512 --set training.epochs=1 --set training.log_every=1 \
      --set scheduler.warmup_epochs=0 \
      --set checkpoint.dir="$work/runs/determinism-$run" --resume never) \
      > "$logs/determinism-$run.log" 2>&1
    rc=$?
    [ $rc -eq 0 ] || break
  done
  if [ $rc -ne 0 ]; then
    record determinism "$(status_of $rc)" $(($(date +%s) - t0)) \
      "exit $rc: $(grep -m1 '^error' "$logs/determinism-$run.log" | cut -c1-80)"
    return
  fi
  # Timing fields aside, the two metrics.jsonl (a loss per step, 17 digits) must be equal.
  strip() { sed -E 's/"(images_per_s|seconds)":[^,}]*,?//g' "$1"; }
  a=$(strip "$work/runs/determinism-a/metrics.jsonl")
  b=$(strip "$work/runs/determinism-b/metrics.jsonl")
  if [ -n "$a" ] && [ "$a" = "$b" ]; then
    record determinism PASS $(($(date +%s) - t0)) "$(grep -c '"step"' <<< "$a") step losses bit-identical"
  else
    diff <(echo "$a") <(echo "$b") | head -5
    record determinism FAIL $(($(date +%s) - t0)) "the two runs differ (training.deterministic)"
  fi
}

# --- compute-sanitizer over the CUDA kernels' own tests ---------------------------------------
sanitize_kernels() {
  local tool=$1 name=sanitizer-$1 t0 rc
  say "compute-sanitizer --tool $tool over the cuda instances of the kernel tests"
  # Often outside PATH on a bare device shell: look in the toolkit too.
  local sanitizer
  sanitizer=$(command -v compute-sanitizer || true)
  for c in "$cuda_home/bin/compute-sanitizer" "$cuda_home/compute-sanitizer/compute-sanitizer"; do
    [ -z "$sanitizer" ] && [ -x "$c" ] && sanitizer=$c
  done
  if [ -z "$sanitizer" ]; then record "$name" SKIP 0 "compute-sanitizer not found"; return; fi
  if out_of_time; then record "$name" SKIP 0 "out of time budget"; return; fi
  t0=$(date +%s)
  rc=0
  # racecheck (shared-memory races) is slow: the spatial kernels only; memcheck both suites.
  local bins="test_cuda_spatial_kernels test_device_ops"
  [ "$tool" = racecheck ] && bins=test_cuda_spatial_kernels
  for bin in $bins; do
    [ -x "$bundle/bin/$bin" ] || continue
    # The 2^31-element test needs ~30 GiB and minutes under the sanitizer: it runs unsanitized.
    (cd "$work/runs" && timeout -k 10 "$(limit 75)" "$sanitizer" --tool "$tool" \
      --error-exitcode 99 "$bundle/bin/$bin" --gtest_filter='*/cuda:-SpatialLarge*' \
      --gtest_brief=1) \
      > "$logs/$name-$bin.log" 2>&1 || rc=$?
    [ $rc -eq 0 ] || break
  done
  record "$name" "$(status_of $rc)" $(($(date +%s) - t0)) \
    "$(grep -m1 -E 'ERROR SUMMARY|========= [A-Z]' "$logs/$name-"*.log 2> /dev/null | cut -d: -f2- | cut -c1-80)"
}

if [ $bench_only = 1 ]; then
  echo "(--bench-only: no determinism or compute-sanitizer runs)"
elif [ $has_device = 1 ]; then
  deterministic_twice
  sanitize_kernels memcheck
  sanitize_kernels racecheck
else
  record determinism SKIP 0 "no CUDA device"
  record sanitizer SKIP 0 "no CUDA device"
fi

# --- GPU benchmarks ---------------------------------------------------------------------------
say "GPU benchmarks"
benches=0
bench_files=("$bundle"/bench/*)
# bench/run.sh (bench/gpu/run.sh) drives the others (the binary, PyTorch's script): run it alone,
# within its own budget (TANDEM_BENCH_BUDGET), its JSON lines and table kept with the logs.
[ -f "$bundle/bench/run.sh" ] && bench_files=("$bundle/bench/run.sh")
for b in "${bench_files[@]}"; do
  [ -f "$b" ] || continue
  benches=$((benches + 1))
  name=bench-$(basename "$b")
  if out_of_time; then record "$name" SKIP 0 "out of time budget"; continue; fi
  if [ $has_device = 0 ] && [ -z "${TANDEM_EMULATE_CUDA:-}" ]; then record "$name" SKIP 0 "no CUDA device"; continue; fi
  t0=$(date +%s)
  case $b in
    *.sh) cmd=(bash "$b") ;;
    *.py) cmd=(python3 "$b") ;;
    *) cmd=("$b") ;;
  esac
  blimit=$(limit "${TANDEM_BENCH_TIMEOUT:-100}")
  (cd "$work/runs" && TANDEM_BUNDLE=$bundle TANDEM_BENCH_BUDGET=${TANDEM_BENCH_BUDGET:-$((blimit - 10))} \
    TANDEM_BENCH_OUT=$logs/bench timeout -k 10 "$blimit" "${cmd[@]}") > "$logs/$name.log" 2>&1
  rc=$?
  tail -45 "$logs/$name.log"
  record "$name" "$(status_of $rc)" $(($(date +%s) - t0)) "exit $rc; $(tail -1 "$logs/$name.log" | cut -c1-60)"
done
[ $benches -gt 0 ] || { echo "none in this bundle (bench/gpu/ had none when it was built)"; record benchmarks SKIP 0 "none in the bundle"; }

# --- summary ----------------------------------------------------------------------------------
say "summary"
{
  printf '%-30s %-8s %6s  %s\n' step status seconds detail
  while IFS=$'\t' read -r name status secs detail; do
    printf '%-30s %-8s %6s  %s\n' "$name" "$status" "$secs" "$detail"
  done < "$logs/results.tsv"
  fails=$(cut -f2 "$logs/results.tsv" | grep -cE 'FAIL|TIMEOUT')
  printf '\n%s: %s of %s steps failed or timed out, %ss in all (budget %ss)\n' \
    "$([ "$fails" -eq 0 ] && echo PASSED || echo FAILED)" "$fails" "$(wc -l < "$logs/results.tsv")" "$(elapsed)" "$budget"
} | tee "$logs/summary.txt"
[ "$(cut -f2 "$logs/results.tsv" | grep -cE 'FAIL|TIMEOUT')" -eq 0 ]
}

if [ -n "${OUT:-}" ]; then
  mkdir -p "$OUT"
  main 2>&1 | tee "$OUT/gpu-check.log"
  rc=${PIPESTATUS[0]}
  cp "$logs/summary.txt" "$OUT/summary.txt" 2> /dev/null
  tar -C "$work" -czf "$OUT/logs.tar.gz" logs
  exit "$rc"
fi
main
