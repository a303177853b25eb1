#!/usr/bin/env bash
# Builds the fuzz targets with clang (libFuzzer + ASan + UBSan over the whole framework) and runs
# each for a bounded time, seeded with the test fixtures. Usage: tests/fuzz/run.sh [seconds]
set -euo pipefail
secs=${1:-60}
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${FUZZ_BUILD:-/tmp/tandem-fuzz-build}
command -v clang++ >/dev/null || { echo "clang++ is needed: apt-get install clang" >&2; exit 2; }
cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DTANDEM_CUDA=OFF \
  -DTANDEM_FUZZ=ON -DTANDEM_WERROR=OFF -DTANDEM_BUILD_TESTS=OFF -DTANDEM_BUILD_BENCH=OFF -DTANDEM_BUILD_EXAMPLES=OFF \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS="-fsanitize=fuzzer-no-link,address,undefined" >/dev/null
cmake --build "$build" -j"$(nproc)" --target fuzz_safetensors fuzz_pickle fuzz_torch_zip
corpus=$(mktemp -d)
mkdir -p "$corpus"/{safetensors,pickle,torch_zip}
cp "$root"/tests/fixtures/io/*.pt "$corpus/torch_zip/"
for f in "$root"/tests/fixtures/io/*.pt; do unzip -p "$f" '*/data.pkl' > "$corpus/pickle/$(basename "$f").pkl" 2>/dev/null || true; done
printf '\x48\x00\x00\x00\x00\x00\x00\x00{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"__metadata__":{"k":"v"}}     \x00\x00\x00\x00\x00\x00\x00\x00' > "$corpus/safetensors/seed"
for t in safetensors pickle torch_zip; do
  echo "== fuzz_$t for ${secs}s"
  "$build/tests/fuzz/fuzz_$t" -max_total_time="$secs" -print_final_stats=1 "$corpus/$t" 2>&1 | grep -E "stat::number_of_executed_units|ERROR|SUMMARY|Done" || true
done
