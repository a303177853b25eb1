#!/usr/bin/env bash
# The one-command GPU check (issue #12, item 9): runs the GPU bundle's runner (tests/gpu/run.sh,
# copied into gpu-bundle/ by tests/gpu/bundle.sh) from the repository root.
#
# On a lent GPU machine (the session's device tool; one H200, no network, no Debian packages):
#   1. here, on the build machine:   bash tests/gpu/bundle.sh      (about 20 MiB in gpu-bundle/)
#   2. one device call:  run(command: "bash tests/gpu/check.sh", carry: ["gpu-bundle"],
#                            timeout_s: 600)
#      gpu-bundle/ is ignored by git, so it travels only because `carry` names it. The runner
#      finishes in under 8 minutes (TANDEM_GPU_CHECK_BUDGET, 450 s, bounds its steps), prints one
#      summary table last (the reply's output_tail ends with it) and writes gpu-check.log,
#      summary.txt and logs.tar.gz (per-test logs, GTest XML, nvidia-smi, ldd) to $OUT, which
#      the reply brings back. Then give_back, unless rerunning at once.
#      NVIDIA's libraries come from PyTorch's site-packages (nvidia/*/lib) there, then the CUDA
#      toolkit's lib64; tandem --version shows which file each was loaded from.
#
# Here, without a GPU (tests the bundle and the runner):
#   bash tests/gpu/check.sh --local --emulated [--build]
#   --build     runs tests/gpu/bundle.sh first
#   --local     runs the runner as a bare GPU machine would see it: a clean environment (env -i),
#               /usr/local/cuda/lib64 standing in for PyTorch's NVIDIA libraries, and
#               --strict-libs (no library but glibc's and NVIDIA's may come from the system)
#   --emulated  TANDEM_EMULATE_CUDA=2: the `cuda` device is an emulated one, served by host memory
# Other arguments go to the runner (run.sh --help). TANDEM_*, CUDA_*, NCCL_* and GTEST_*
# variables pass through, in --local mode too.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
local_mode=0
build=0
args=()
for a in "$@"; do
  case $a in
    --local) local_mode=1 ;;
    --build) build=1 ;;
    -h|--help) sed -n '2,28p' "$0"; exit 0 ;;
    *) args+=("$a") ;;
  esac
done
[ $build = 0 ] || bash tests/gpu/bundle.sh
if [ ! -f gpu-bundle/run.sh ] || [ ! -f gpu-bundle/payload.tar.xz ]; then
  echo "check.sh: no gpu-bundle/ here. Build it on the build machine (bash tests/gpu/bundle.sh)" >&2
  echo "and carry it: run(command: 'bash tests/gpu/check.sh', carry: ['gpu-bundle'])" >&2
  exit 2
fi
if [ $local_mode = 0 ]; then
  exec bash gpu-bundle/run.sh "${args[@]}"
fi
keep=(PATH=/usr/bin:/bin HOME="${HOME:-/root}" TMPDIR="${TMPDIR:-/tmp}"
  TANDEM_NVIDIA_LIB_DIRS="${TANDEM_NVIDIA_LIB_DIRS:-/usr/local/cuda/lib64}")
[ -n "${OUT:-}" ] && keep+=(OUT="$OUT")
while IFS='=' read -r name _; do
  [[ $name =~ ^(TANDEM_|CUDA_|NCCL_|GTEST_) ]] && [ "$name" != TANDEM_NVIDIA_LIB_DIRS ] && keep+=("$name=${!name}")
done < <(env)
exec env -i "${keep[@]}" bash gpu-bundle/run.sh --strict-libs "${args[@]}"
