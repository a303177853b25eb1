#!/usr/bin/env bash
# Runs tandem's benchmarks and PyTorch's (if /usr/bin/python3 has torch) on this machine, one
# after the other, and prints the tandem/PyTorch time ratio per benchmark.
# Usage: bench/run.sh [build-dir]   (build with -DCMAKE_BUILD_TYPE=Release first)
set -euo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
"$build/bench/bench_ops" | tee /tmp/tandem_bench.jsonl
if /usr/bin/python3 -c "import torch" 2>/dev/null; then
  /usr/bin/python3 "$here/torch_baseline.py" | tee /tmp/torch_bench.jsonl
  /usr/bin/python3 - <<'PY'
import json
t = {(d["bench"].replace("tandem_", ""), d["shape"]): d for d in map(json.loads, open("/tmp/tandem_bench.jsonl"))}
p = {(d["bench"].replace("torch_", ""), d["shape"]): d for d in map(json.loads, open("/tmp/torch_bench.jsonl"))}
print(f"{'benchmark':28} {'shape':36} {'tandem ms':>10} {'torch ms':>10} {'torch/tandem':>12}")
for k in t:
    if k in p:
        print(f"{k[0]:28} {k[1]:36} {t[k]['ms']:10.3f} {p[k]['ms']:10.3f} {p[k]['ms'] / t[k]['ms']:12.2f}")
PY
else
  echo "(PyTorch not installed: no baseline)"
fi
