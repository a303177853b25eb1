#!/usr/bin/env bash
# The GPU benchmarks in one command: runs tandem's half (bench_gpu) and PyTorch's
# (torch_gpu_baseline.py, where `import torch` works and torch sees the GPU) one after the
# other on the same GPU and prints one table: each case's throughput for tandem and PyTorch,
# tandem/torch, the ceiling (cuBLAS called directly for GEMM, a device-to-device copy of as many
# bytes for elementwise ops) and tandem/ceiling. See bench/gpu/README.md.
#
#   bench/gpu/run.sh            (tests/gpu/run.sh runs it as the GPU check's benchmark step)
#
# Environment: TANDEM_BENCH_BUDGET seconds for both halves (default 90; each half is stopped at
# its share and skips what would start after it), TANDEM_BENCH_OUT (folder for tandem.jsonl,
# torch.jsonl and table.txt; default a temporary one), TANDEM_BENCH_BIN (the bench_gpu binary;
# default next to this script, else build/ or build-gpu/), PYTHON (default python3), and the
# sizes and repeats of bench_gpu.cpp (TANDEM_BENCH_SECTIONS, _GEMM_SIZES, _GEMM_DTYPES, _CONV,
# _ELEMENTS, _RESNET_BATCH, _STEPS, _TRAIN_REPEATS, _REPEATS, _WARMUP, _TARGET_MS,
# _DETERMINISTIC), which both halves read. Without a CUDA device it says so and exits 0; on the emulated device
# (TANDEM_EMULATE_CUDA) it runs tandem's half at tiny sizes and skips PyTorch's.
# Exit status: 0 unless tandem's half crashed or ran out of time.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." 2> /dev/null && pwd)
budget=${TANDEM_BENCH_BUDGET:-90}
[ "$budget" -ge 20 ] 2> /dev/null || budget=20  # each half needs a few seconds to start
python=${PYTHON:-python3}
started=$(date +%s)
elapsed() { echo $(($(date +%s) - started)); }

bin=${TANDEM_BENCH_BIN:-}
if [ -z "$bin" ]; then
  for b in "$here/bench_gpu" "$root/build/bench/gpu/bench_gpu" "$root/build-gpu/bench/gpu/bench_gpu"; do
    [ -x "$b" ] && { bin=$b; break; }
  done
fi
if [ -z "$bin" ] || [ ! -x "$bin" ]; then
  echo "bench/gpu/run.sh: no bench_gpu binary (build the tree, or set TANDEM_BENCH_BIN)" >&2
  exit 1
fi
if [ -z "${TANDEM_BENCH_CNN_CONFIG:-}" ]; then  # the same file for both halves
  for d in "${TANDEM_BUNDLE:-/nonexistent}/configs" "$here/../configs" "$root/configs"; do
    if [ -f "$d/fashion_mnist_cnn.yaml" ]; then
      export TANDEM_BENCH_CNN_CONFIG=$d/fashion_mnist_cnn.yaml
      break
    fi
  done
fi
out=${TANDEM_BENCH_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/tandem-bench-gpu.XXXXXX")}
mkdir -p "$out" || exit 1

# --- tandem: at most half the budget ----------------------------------------------------------
share=$((budget / 2))
echo "== tandem: $bin (budget ${share}s)"
TANDEM_BENCH_DEADLINE=$((share * 4 / 5)) timeout -k 5 "$share" "$bin" > "$out/tandem.jsonl" 2> "$out/tandem.err"
rc=$?
grep -v '^{' "$out/tandem.jsonl"
cat "$out/tandem.err"
if grep -q '^no CUDA device' "$out/tandem.jsonl"; then
  echo "bench: $(grep -m1 '^no CUDA device' "$out/tandem.jsonl"); nothing measured"
  exit 0
fi
tandem_status="exit $rc"
[ $rc = 124 ] || [ $rc = 137 ] && tandem_status="stopped after ${share}s"
emulated=0
grep -q '"emulated":true' "$out/tandem.jsonl" && emulated=1

# --- PyTorch: the rest of the budget ----------------------------------------------------------
: > "$out/torch.jsonl"
if [ $emulated = 1 ]; then
  echo "== PyTorch: skipped (the emulated device is not a GPU)"
elif ! command -v "$python" > /dev/null; then
  echo "== PyTorch: skipped (no $python)"
else
  left=$((budget - $(elapsed)))
  [ $left -lt 20 ] && left=20
  echo "== PyTorch: $here/torch_gpu_baseline.py (budget ${left}s)"
  # Python and torch load their own libraries, not the bundle's (older zlib, OpenSSL, ...).
  py_ld=""
  IFS=: read -r -a ld_dirs <<< "${LD_LIBRARY_PATH:-}"
  for d in "${ld_dirs[@]}"; do
    case $d in "${TANDEM_BUNDLE:-/nonexistent}"/lib*) continue ;; esac
    py_ld+=${py_ld:+:}$d
  done
  LD_LIBRARY_PATH=$py_ld TANDEM_BENCH_DEADLINE=$((left * 3 / 4)) PYTHONUNBUFFERED=1 \
    timeout -k 5 "$left" "$python" "$here/torch_gpu_baseline.py" > "$out/torch.jsonl" 2> "$out/torch.err"
  prc=$?
  grep -v '^{' "$out/torch.jsonl"
  tail -5 "$out/torch.err"
  [ $prc = 0 ] || echo "PyTorch's half: exit $prc$([ $prc = 124 ] && echo ' (out of time)')"
fi

# --- the table (its last line is the one-line summary) -----------------------------------------
echo "== results (JSON lines and this table in $out)"
if command -v "$python" > /dev/null; then
  "$python" - "$out/tandem.jsonl" "$out/torch.jsonl" "$tandem_status" << 'PY' | tee "$out/table.txt"
import json, math, sys

def rows(path):
    out = []
    for line in open(path, errors="replace"):
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
    return out

tandem, torch, status = rows(sys.argv[1]), rows(sys.argv[2]), sys.argv[3]
info = [r for r in tandem + torch if r.get("info")]
cases, by = [], {}
for r in tandem + torch:
    if r.get("info"):
        continue
    key = (r["bench"], r["case"])
    if key not in by:
        cases.append(key)
        by[key] = {"unit": r.get("unit", "")}
    by[key][r["side"]] = r

def num(v):
    if v is None:
        return "n/a"
    a = abs(v)
    return f"{v:.0f}" if a >= 1000 else f"{v:.1f}" if a >= 100 else f"{v:.2f}" if a >= 1 else f"{v:.3g}"

def val(r):
    return r.get("value") if r else None

def ratio(a, b):
    return a / b if a is not None and b not in (None, 0) else None

for i in info:
    keys = ("device", "libraries", "torch", "cuda", "cudnn", "deterministic", "emulated", "l2_bytes")
    print(f"{i['side']}: " + ", ".join(f"{k} {i[k]}" for k in keys if i.get(k) not in (None, "")))
head = f"{'bench':11} {'case':38} {'unit':8} {'tandem':>8} {'torch':>8} {'t/torch':>7} {'ceiling':>8} {'t/ceil':>6} {'ceiling is':11} {'ms tandem':>9} {'ms torch':>9}"
print(head)
print("-" * len(head))
ratios, by_bench, na, notes = [], {}, 0, []
tol = {"fp32": 1e-4, "tf32": 2e-3, "bf16": 2e-2}
for key in cases:
    d = by[key]
    t, p = d.get("tandem"), d.get("torch")
    refs = [d[s] for s in ("cublas", "cublaslt", "memcpy") if val(d.get(s)) is not None]
    ref = max(refs, key=val) if refs else None
    ref_name = {"cublas": "cublasGemmEx", "cublaslt": "cublasLt", "memcpy": "D2D memcpy"}.get(ref["side"], "") if ref else ""
    r = ratio(val(t), val(p))
    if r is not None:
        ratios.append(r)
        by_bench.setdefault(key[0], []).append(r)
    if t is not None and val(t) is None:
        na += 1
        notes.append(f"tandem {key[0]} {key[1]}: {t.get('error', 'n/a')}")
    if p is not None and val(p) is None:
        notes.append(f"torch {key[0]} {key[1]}: {p.get('error', 'n/a')}")
    for side in ("cublas", "cublaslt"):
        if d.get(side) and val(d[side]) is None:
            notes.append(f"{side} {key[1]}: {d[side].get('error', 'n/a')}")
    err = (d.get("cublas") or {}).get("relerr_tandem")
    if err is not None and err > tol.get(key[1].split()[0], 1e-2):
        notes.append(f"CHECK gemm {key[1]}: tandem's product differs from cublasGemmEx's by {err:.2e} (relative)")
    print(f"{key[0]:11} {key[1][:38]:38} {d['unit']:8} {num(val(t)):>8} {num(val(p)):>8} "
          f"{num(r):>7} {num(val(ref)):>8} {num(ratio(val(t), val(ref))):>6} {ref_name:11} "
          f"{num(t.get('ms') if t else None):>9} {num(p.get('ms') if p else None):>9}")
errs = [(k, by[k]["cublas"]["relerr_tandem"]) for k in cases if (by[k].get("cublas") or {}).get("relerr_tandem") is not None]
if errs:
    print("gemm: tandem's product against cublasGemmEx's, relative error: " + ", ".join(f"{k[1].split('x')[0]} {e:.1e}" for k, e in errs))
for n in notes:
    print("  " + n[:300])
geo = lambda v: math.exp(sum(map(math.log, v)) / len(v)) if v else None
parts = ", ".join(f"{b} {geo(v):.2f}" for b, v in by_bench.items())
measured = sum(1 for k in cases if val(by[k].get("tandem")) is not None)
if ratios:
    print(f"tandem/torch geomean {geo(ratios):.2f} over {len(ratios)} cases ({parts}); tandem n/a in {na}; tandem {status}")
else:
    print(f"tandem measured {measured} cases, n/a in {na}, no PyTorch numbers; tandem {status}")
PY
else
  cat "$out/tandem.jsonl" "$out/torch.jsonl"
fi
[ "$rc" = 0 ]
