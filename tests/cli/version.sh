#!/usr/bin/env bash
# `tandem --version` exits 0 without a GPU or mpirun and prints the build line, every library as
# built and as running, and the devices (or why there are none); under TANDEM_EMULATE_CUDA the
# emulated devices first, then the real report; a bad setting is reported, not fatal.
# $TANDEM_VERSION is the project's.
source "$(dirname "$0")/common.sh"
set -e
rc=0
env -u TANDEM_EMULATE_CUDA "$TANDEM" --version > "$work/out" 2> "$work/err" || rc=$?
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
  for lib in "CUDA runtime" "CUDA driver" cuBLASLt cuDNN cuRAND; do expect_line "^$lib "; done
  expect_line "^devices:( none \\(no CUDA device: .+\\))?$"
fi
! grep -q "emulated" "$work/out" || fail "emulated devices reported without TANDEM_EMULATE_CUDA"
real_devices=$(grep "^devices:" "$work/out" | sed 's/^devices://')

# The emulated device: its devices and memory first, then the same real report.
TANDEM_EMULATE_CUDA=2 TANDEM_EMULATED_MEMORY_MB=512 "$TANDEM" --version > "$work/out" 2> "$work/err" \
  || { cat "$work/out" "$work/err"; fail "tandem --version under TANDEM_EMULATE_CUDA=2 failed"; }
expect_line "^devices: 2 emulated CUDA devices \\(TANDEM_EMULATE_CUDA=2\\), 512 MiB each$"
grep -qxF "real CUDA devices (unused while cuda is emulated):$real_devices" "$work/out" \
  || { cat "$work/out"; fail "no real device report after the emulated devices"; }
env -u TANDEM_EMULATED_MEMORY_MB TANDEM_EMULATE_CUDA=1 "$TANDEM" --version | grep -qx "devices: 1 emulated CUDA device (TANDEM_EMULATE_CUDA=1), 4096 MiB" \
  || fail "one emulated device, default memory: wrong devices line"
# A bad setting makes cuda unusable but --version still answers, naming it.
TANDEM_EMULATE_CUDA=two "$TANDEM" --version > "$work/out" 2> "$work/err" \
  || { cat "$work/out" "$work/err"; fail "tandem --version with a bad TANDEM_EMULATE_CUDA failed"; }
expect_line "^devices: none \\(TANDEM_EMULATE_CUDA='two' is not a device count\\)$"

# --version takes no other argument and is listed in the help.
"$TANDEM" --help | grep -q -- "--version" || fail "--version missing from tandem --help"
echo "tandem --version checks passed"
