#!/usr/bin/env bash
# The whole test run, as CI runs it (README's test command): installs Debian's packages, builds,
# and runs every suite, printing each stage's time. Stages:
#   deps     apt-get install of the build and test dependencies (as root)
#   build    Release build with the CUDA backend (sm_90) when nvcc is there
#   test     ctest: every suite on the CPU, every device-parametrised test on the emulated CUDA
#            device (TANDEM_EMULATE_CUDA, set by tests/CMakeLists.txt), the MPI suites under
#            mpirun with 2-4 ranks, and the CLI scripts
#   package  tandem as a user gets it (tests/package/check.sh --deb): `cmake --install` into a
#            temporary prefix, then examples/ and README's program built against it with
#            find_package(tandem) and pkg-config, and run; a build without CUDA (build-deb)
#            packaged by `cpack -G DEB`, whose dependencies apt-get resolves as on a machine
#            with nothing installed
#   sanitize the second configuration: a clang tree without nvcc whose `cuda` is the emulated
#            device (TANDEM_CUDA=EMULATED) built with AddressSanitizer and UBSan, running the
#            adversarial-input, io, config and device-layer suites, then each libFuzzer target
#            for SANITIZE_FUZZ_SECONDS (default 20) on its seed corpus (tests/sanitize/run.sh)
# Usage: tests/ci.sh [--no-deps]. BUILD_DIR (default build) says where to build.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
jobs=$(nproc)
stage_names=()
stage_seconds=()

stage() {  # stage NAME COMMAND...: runs the command and records how long it took
  local name=$1
  shift
  echo "=== stage $name: $*"
  local start=$SECONDS
  "$@"
  stage_names+=("$name")
  stage_seconds+=($((SECONDS - start)))
  echo "=== stage $name done in $((SECONDS - start)) s"
}

deps() {
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y --no-install-recommends cmake g++ make pkg-config libopenblas-dev \
    libopenblas-openmp-dev libdnnl-dev \
    libgtest-dev libopenmpi-dev openmpi-bin libyaml-cpp-dev nlohmann-json3-dev libzip-dev \
    zlib1g-dev libjpeg62-turbo-dev libpng-dev dataset-fashion-mnist gnuplot-nox clang \
    libclang-rt-14-dev
}

configure_and_build() {
  cmake -S . -B "$build" -DTANDEM_CUDA_ARCHITECTURES=90 -DTANDEM_ONEDNN=ON
  cmake --build "$build" -j"$jobs"
}

run_tests() { ctest --test-dir "$build" --output-on-failure -j"$jobs"; }

package() { JOBS=$jobs bash tests/package/check.sh --deb "$build"; }

sanitize() { bash tests/sanitize/run.sh "${SANITIZE_FUZZ_SECONDS:-20}"; }

[ "${1:-}" = "--no-deps" ] || stage deps deps
stage build configure_and_build
stage test run_tests
stage package package
stage sanitize sanitize

echo "=== stage times"
for i in "${!stage_names[@]}"; do printf '  %-8s %5d s\n' "${stage_names[$i]}" "${stage_seconds[$i]}"; done
printf '  %-8s %5d s\n' total "$SECONDS"
