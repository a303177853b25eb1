#!/usr/bin/env bash
# `tandem --version` exits 0 without a GPU or mpirun and prints the build line, every library as
# built and as running, and the devices (or why there are none). $TANDEM_VERSION is the project's.
source "$(dirname "$0")/common.sh"
set -e
rc=0
"$TANDEM" --version > "$work/out" 2> "$work/err" || rc=$?
[ "$rc" -eq 0 ] || { cat "$work/out" "$work/err"; fail "tandem --version exited $rc"; }
cat "$work/out"
[ ! -s "$work/err" ] || { cat "$work/err"; fail "tandem --version wrote to stderr"; }
expect_line() { grep -qE -- "$1" "$work/out" || fail "no line matching '$1'"; }
expect_line "^tandem ${TANDEM_VERSION//./\\.} \\(commit ([0-9a-f]{12}(-dirty)?|unknown)\\), [A-Za-z]+ build, "
expect_line "^library +built with +running with"
for lib in NCCL OpenBLAS MPI; do expect_line "^$lib "; done
if grep -q "built without CUDA" "$work/out"; then
  expect_line "no CUDA device: tandem was built without CUDA"
else
  for lib in "CUDA runtime" "CUDA driver" cuBLAS cuBLASLt cuDNN cuRAND; do expect_line "^$lib "; done
  expect_line "^devices:( none \\(no CUDA device: .+\\))?$"
fi
# --version takes no other argument and is listed in the help.
"$TANDEM" --help | grep -q -- "--version" || fail "--version missing from tandem --help"
echo "tandem --version checks passed"
