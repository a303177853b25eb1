#!/usr/bin/env bash
# CI's sanitizer and fuzzing checks, and its second configuration: one clang tree without nvcc
# whose `cuda` is the emulated device (TANDEM_CUDA=EMULATED), with AddressSanitizer and
# UndefinedBehaviorSanitizer on every project target (-DTANDEM_SANITIZE=address,undefined) plus
# the libFuzzer targets (tests/fuzz), then
#   1. runs the adversarial suite, the io, npy, config and value_json suites, the memory and
#      device layer's suites (device and CPU caching allocators, emulated device, device ops on
#      cpu and emulated cuda), the loss scaler's, SmallVector's, autograd's and the collective
#      watchdog's, the data loader's and training on the emulated device (whose streams run
#      asynchronously, so a buffer freed or refilled before a queued copy or kernel ran is a
#      use-after-free here), and the adversarial CLI script under ASan+UBSan (any finding aborts
#      the process, so the step fails);
#   2. runs each fuzz target for SECONDS (default 25) on its seed corpus (tests/fuzz/corpus, plus
#      the .pt fixtures and the example configs), two at a time on two cores.
# A crash, leak, sanitizer report, time-out (10 s for one input) or failing test fails the script;
# crashing inputs are kept in $BUILD/fuzz-artifacts, logs in $BUILD/logs.
#
# --thread (not in CI, which has no time left for a third build: about 10 minutes here) builds
# another tree with ThreadSanitizer instead (TSAN_BUILD, default build-tsan) and runs the suites where tandem's own
# threads meet: the emulated device's stream threads, the allocators, the collective watchdog,
# the data loader's workers, DataParallel's replicas and training on the emulated device. That
# tree has no OpenMP and no oneDNN (their thread pools are not instrumented, so TSan would not see
# their barriers and would report races that are not there) and OpenBLAS runs on one thread.
# Usage: tests/sanitize/run.sh [--fuzz-only | --thread] [SECONDS]
#        (needs clang and libclang-rt-14-dev)
set -euo pipefail
fuzz_only=0 thread=0
case "${1:-}" in
  --fuzz-only) fuzz_only=1; shift ;;
  --thread) thread=1; shift ;;
esac
case "${1:-}" in
  --*) echo "usage: tests/sanitize/run.sh [--fuzz-only | --thread] [SECONDS]" >&2; exit 2 ;;
esac
secs=${1:-25}
root=$(cd "$(dirname "$0")/../.." && pwd)
jobs=${JOBS:-$(nproc)}
command -v clang++ >/dev/null || { echo "clang++ is needed: apt-get install clang libclang-rt-14-dev" >&2; exit 2; }
start=$(date +%s)
stamp() { echo "[$(( $(date +%s) - start ))s] $*"; }

if [ "$thread" = 1 ]; then
  build=${TSAN_BUILD:-$root/build-tsan}
  suites="test_emulated_device test_caching_allocator test_cpu_caching_allocator test_pinned_host_allocator test_collective_watchdog test_data test_data_parallel test_device_ops test_training_on_device"
  mkdir -p "$build/logs"
  stamp "configure $build (clang, -fsanitize=thread, no OpenMP, no oneDNN)"
  cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
    -DCMAKE_BUILD_TYPE=None -DCMAKE_CXX_FLAGS="-O1 -gline-tables-only" -DTANDEM_CUDA=EMULATED \
    -DTANDEM_SANITIZE=thread -DTANDEM_OPENMP=OFF -DTANDEM_ONEDNN=OFF -DTANDEM_WERROR=OFF \
    -DTANDEM_BUILD_BENCH=OFF -DTANDEM_BUILD_EXAMPLES=OFF > "$build/logs/configure.log" 2>&1 ||
    { cat "$build/logs/configure.log"; exit 1; }
  stamp "build: $suites"
  # shellcheck disable=SC2086
  cmake --build "$build" -j"$jobs" --target $suites > "$build/logs/build.log" 2>&1 ||
    { tail -50 "$build/logs/build.log"; exit 1; }
  for t in $suites; do
    stamp "$t under TSan"
    OPENBLAS_NUM_THREADS=1 TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1} \
      TANDEM_EMULATE_CUDA=4 "$build/tests/$t" --gtest_brief=1 ||
      { echo "FAIL: $t under ThreadSanitizer" >&2; exit 1; }
  done
  stamp "ThreadSanitizer checks passed"
  exit 0
fi
build=${SANITIZE_BUILD:-$root/build-sanitize}

fuzz_targets="safetensors pickle torch_zip checkpoint_metadata config idx image npy"
sanitized_suites="test_adversarial_inputs test_io test_npy test_image_codec test_config test_value_json test_caching_allocator test_cpu_caching_allocator test_pinned_host_allocator test_emulated_device test_device_ops test_grad_scaler test_small_vector test_autograd test_collective_watchdog test_data test_training_on_device"
test_targets="$sanitized_suites tandem tandem_make_adversarial"
targets=""
for t in $fuzz_targets; do targets="$targets fuzz_$t"; done
[ "$fuzz_only" = 1 ] || targets="$test_targets $targets"

logs=$build/logs
mkdir -p "$logs"
stamp "configure $build (clang, -fsanitize=address,undefined, libFuzzer targets)"
cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_BUILD_TYPE=None -DCMAKE_CXX_FLAGS="-O1 -gline-tables-only -fsanitize=fuzzer-no-link" \
  -DTANDEM_CUDA=EMULATED -DTANDEM_SANITIZE=address,undefined -DTANDEM_FUZZ=ON -DTANDEM_WERROR=OFF \
  -DTANDEM_BUILD_BENCH=OFF -DTANDEM_BUILD_EXAMPLES=OFF > "$logs/configure.log" 2>&1 ||
  { cat "$logs/configure.log"; exit 1; }
stamp "build:$targets"
# shellcheck disable=SC2086
cmake --build "$build" -j"$jobs" --target $targets > "$logs/build.log" 2>&1 ||
  { tail -50 "$logs/build.log"; exit 1; }

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

if [ "$fuzz_only" = 0 ]; then
  for t in $sanitized_suites; do
    stamp "$t under ASan+UBSan"
    # 4 emulated devices, as under ctest (the build's default is 1).
    TANDEM_EMULATE_CUDA=4 "$build/tests/$t" --gtest_brief=1 || { echo "FAIL: $t under sanitizers" >&2; exit 1; }
  done
  stamp "tests/cli/adversarial.sh with the sanitized tandem"
  # Open MPI, which tandem initialises to name a failing rank, keeps allocations until exit.
  ASAN_OPTIONS="$ASAN_OPTIONS:detect_leaks=0" TANDEM="$build/launch/tandem" \
    TANDEM_MAKE_ADVERSARIAL="$build/tests/tandem_make_adversarial" TANDEM_SOURCE="$root" \
    TANDEM_ADVERSARIAL_SECONDS=60 bash "$root/tests/cli/adversarial.sh" > "$logs/cli.log" 2>&1 ||
    { tail -30 "$logs/cli.log"; echo "FAIL: cli/adversarial.sh under sanitizers" >&2; exit 1; }
  stamp "$(grep -c '^ok:' "$logs/cli.log") CLI checks passed"
fi

# Fuzzing: a fresh corpus directory per target (libFuzzer adds to it), seeded from the repo.
corpus=$(mktemp -d)
trap 'rm -rf "$corpus"' EXIT
for t in $fuzz_targets; do
  mkdir -p "$corpus/$t"
  cp "$root/tests/fuzz/corpus/$t/"* "$corpus/$t/"
done
cp "$root"/tests/fixtures/io/*.pt "$corpus/torch_zip/"
cp "$root"/configs/*.yaml "$corpus/config/"
cp "$root"/tests/fixtures/images/folder/lower/* "$root"/tests/fixtures/images/bad/* "$corpus/image/"
mkdir -p "$build/fuzz-artifacts"
fuzz() {
  "$build/tests/fuzz/fuzz_$1" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$build/fuzz-artifacts/$1-" "$corpus/$1" \
    > "$logs/fuzz-$1.log" 2>&1
}
failed=0
set -- $fuzz_targets
while [ $# -gt 0 ]; do
  batch=()
  for _ in $(seq "$jobs"); do [ $# -gt 0 ] && { batch+=("$1"); shift; }; done
  stamp "fuzz ${batch[*]} for ${secs}s"
  pids=()
  for t in "${batch[@]}"; do fuzz "$t" & pids+=($!); done
  for i in "${!batch[@]}"; do
    t=${batch[$i]}
    if wait "${pids[$i]}"; then
      runs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$logs/fuzz-$t.log" | grep -o '[0-9]*$')
      echo "ok: fuzz_$t: ${runs:-?} inputs, no findings"
    else
      failed=1
      grep -E "ERROR|SUMMARY|Test unit written|==[0-9]+==" "$logs/fuzz-$t.log" | head -20
      echo "FAIL: fuzz_$t (log: $logs/fuzz-$t.log)" >&2
    fi
  done
done
[ "$failed" = 0 ] || exit 1
stamp "sanitizer and fuzzing checks passed"
