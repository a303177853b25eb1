#!/usr/bin/env bash
# Builds the GPU bundle HERE, on a machine with nvcc, the CUDA libraries and the Debian packages
# of README's set-up (no GPU needed), for tests/gpu/check.sh to run on a GPU machine that has
# only glibc, the NVIDIA driver, the CUDA toolkit and PyTorch's NVIDIA libraries.
#
#   tests/gpu/bundle.sh [-j N] [--build-dir DIR] [--out DIR]      (defaults: 2, build-gpu, gpu-bundle)
#
# 1. A Release tree with CUDA (sm_90 only) and TANDEM_PORTABLE=ON (cmake/TandemPortable.cmake:
#    static libstdc++/libgcc/yaml-cpp, no RPATH) in build-gpu/.
# 2. Stages, stripped: bin/ (tandem and every single-process test binary; the MPI suites need
#    mpirun and are left out), bench/ (GPU benchmarks from bench/gpu/, when there are any),
#    lib/ (every shared library ldd finds that is neither glibc's nor NVIDIA's: OpenBLAS,
#    libgfortran, libzip, libcrypto, Open MPI, hwloc, libevent, ...), lib/compat/ (libgcc_s and
#    libstdc++, which cuDNN, NCCL and libgfortran need: the runner uses them only where the
#    system has none, since the system's are as new or newer),
#    configs/, fixtures/ (tests/fixtures without the generator scripts).
#    NVIDIA's libraries (cudart, cuBLAS(Lt), cuDNN, cuRAND, NCCL, the driver) are NOT bundled:
#    the runner finds them on the GPU machine (Python site-packages nvidia/*/lib, the toolkit).
# 3. Writes gpu-bundle/: run.sh (tests/gpu/run.sh), payload.tar.xz (the staged files; xz
#    because the test binaries share most of their code and OpenBLAS alone is 36 MB) and
#    MANIFEST.txt (commit, build host, GLIBC requirement, sizes, each file's NEEDED libraries).
#    Fails when the bundle would not travel with a device call (64 MiB with the working tree).
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
jobs=${JOBS:-2}
build=$root/build-gpu
out=$root/gpu-bundle
while [ $# -gt 0 ]; do
  case $1 in
    -j) jobs=$2; shift 2 ;;
    -j*) jobs=${1#-j}; shift ;;
    --build-dir) build=$(realpath -m "$2"); shift 2 ;;
    --out) out=$(realpath -m "$2"); shift 2 ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "bundle.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
say() { printf '\n== %s\n' "$*"; }

# --- 1. build ---------------------------------------------------------------------------------
say "configure and build $build (Release, CUDA sm_90, portable)"
launchers=()
if command -v ccache > /dev/null; then
  launchers=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)
fi
mkdir -p "$build"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DTANDEM_CUDA=ON \
  -DTANDEM_CUDA_ARCHITECTURES=90 -DTANDEM_PORTABLE=ON -DTANDEM_ONEDNN=OFF -DTANDEM_BUILD_TESTS=ON \
  -DTANDEM_BUILD_BENCH=ON -DTANDEM_BUILD_EXAMPLES=OFF -DTANDEM_FUZZ=OFF "${launchers[@]}" > "$build/configure.log" 2>&1 ||
  { cat "$build/configure.log"; exit 1; }
grep "tandem:" "$build/configure.log" || true
cmake --build "$build" -j"$jobs"

# --- 2. stage ---------------------------------------------------------------------------------
stage=$build/bundle-stage
rm -rf "$stage"
mkdir -p "$stage"/{bin,bench,lib/compat,configs,fixtures}
is_elf() { [ -f "$1" ] && [ "$(head -c 4 "$1" | od -An -c | tr -d ' ')" = '177ELF' ]; }

say "stage binaries"
cp "$build/launch/tandem" "$stage/bin/"
for t in "$build"/tests/test_*; do
  name=$(basename "$t")
  case $name in test_mpi_*) continue ;; esac  # need mpirun, which a GPU machine lacks
  # The CUDA kernels run on the CPU: for machines without a GPU; there its suites run on the GPU.
  [ "$name" = test_cuda_kernels_on_host ] && continue
  is_elf "$t" && [ -x "$t" ] && cp "$t" "$stage/bin/"
done
# GPU benchmarks: an executable built from each bench/gpu/<name>.{cpp,cu}, anything executable
# under build-gpu/bench/gpu/, and bench/gpu's scripts (the runner runs each without arguments).
if [ -d "$root/bench/gpu" ]; then
  for src in "$root"/bench/gpu/*.cpp "$root"/bench/gpu/*.cu; do
    [ -e "$src" ] || continue
    name=$(basename "${src%.*}")
    exe=$(find "$build" -name "$name" -type f -executable -print -quit)
    [ -n "$exe" ] && cp "$exe" "$stage/bench/"
  done
  if [ -d "$build/bench/gpu" ]; then
    find "$build/bench/gpu" -maxdepth 1 -type f -executable -exec cp {} "$stage/bench/" \;
  fi
  for s in "$root"/bench/gpu/*.sh "$root"/bench/gpu/*.py; do
    [ -e "$s" ] && cp "$s" "$stage/bench/"
  done
fi
for f in "$stage"/bin/* "$stage"/bench/*; do
  is_elf "$f" && strip --strip-unneeded "$f"
done
cp "$root"/configs/*.yaml "$stage/configs/"
(cd "$root/tests/fixtures" && find . -type f ! -name '*.py' -exec cp --parents {} "$stage/fixtures/" \;)

say "stage shared libraries (ldd closure, without glibc and NVIDIA)"
glibc='^(linux-vdso\.so|ld-linux-x86-64\.so|libc\.so|libm\.so|libmvec\.so|libdl\.so|libpthread\.so|librt\.so|libresolv\.so|libutil\.so|libanl\.so|libnsl\.so)'
nvidia='^lib(cuda|cudart|cublas|cublasLt|cudnn.*|curand|nccl|nvidia-.*|nvJitLink|nvrtc.*|cupti)\.so'
compat='^lib(stdc\+\+|gcc_s)\.so'
elfs=()
for f in "$stage"/bin/* "$stage"/bench/*; do is_elf "$f" && elfs+=("$f"); done
missing=""
for f in "${elfs[@]}"; do
  while read -r soname arrow path _; do
    [ "$arrow" = "=>" ] || continue
    [[ $soname =~ $glibc || $soname =~ $nvidia ]] && continue
    if [ "$path" = "not" ]; then missing+=" $soname($(basename "$f"))"; continue; fi
    dest=$stage/lib
    [[ $soname =~ $compat ]] && dest=$stage/lib/compat
    [ -e "$dest/$soname" ] || cp -L "$path" "$dest/$soname"
  done < <(ldd "$f")
done
[ -z "$missing" ] || { echo "ldd found no:$missing" >&2; exit 1; }
for f in "$stage"/lib/*.so* "$stage"/lib/compat/*.so*; do
  if [ -e "$f" ]; then strip --strip-unneeded "$f" 2> /dev/null || true; fi
done

# --- checks on what was staged ----------------------------------------------------------------
say "checks"
problems=""
needed() { objdump -p "$1" | awk '/NEEDED/ {print $2}'; }
for f in "${elfs[@]}"; do
  n=$(needed "$f")
  grep -qE '^lib(stdc\+\+|yaml-cpp)\.so' <<< "$n" && problems+="$(basename "$f") needs libstdc++/libyaml-cpp (not portable); "
  grep -qE 'RPATH|RUNPATH' <<< "$(readelf -d "$f")" && problems+="$(basename "$f") has an RPATH; "
done
n=$(needed "$stage/bin/tandem")
# (cuBLASLt is not among them: tandem opens it at the first GPU matrix product.)
for lib in libcudart.so.13 libcudnn.so.9 libnccl.so.2 libcurand.so.10; do
  grep -qx "$lib" <<< "$n" || problems+="bin/tandem does not need $lib (cudart_static, or not linked?); "
done
[ -z "$problems" ] || { echo "bundle check failed: $problems" >&2; exit 1; }
# The newest GLIBC symbol version anything in the bundle asks for: the GPU machine's glibc must
# be at least that (getconf GNU_LIBC_VERSION there).
glibc_of() { objdump -T "$1" 2> /dev/null | grep -o 'GLIBC_[0-9][0-9.]*' | sort -uV | tail -1; }
glibc_report=""
max_glibc=GLIBC_2.0
for f in "$stage"/bin/* "$stage"/bench/* "$stage"/lib/*.so* "$stage"/lib/compat/*.so*; do
  is_elf "$f" || continue
  g=$(glibc_of "$f")
  [ -n "$g" ] || continue
  glibc_report+="  $g  ${f#"$stage"/}"$'\n'
  max_glibc=$(printf '%s\n%s\n' "$max_glibc" "$g" | sort -V | tail -1)
done

# --- 3. write the bundle ----------------------------------------------------------------------
say "write $out"
rm -rf "$out"
mkdir -p "$out"
cp "$root/tests/gpu/run.sh" "$out/run.sh"
chmod +x "$out/run.sh"
# A 256 MiB dictionary lets xz find each test binary's copy of the framework in the previous ones
# (about 60 MiB with the default 8 MiB, 21 MiB like this): the carry limit is 64 MiB.
tar -C "$stage" -cf - bin bench lib configs fixtures | xz -T"$jobs" --lzma2=preset=6,dict=256MiB > "$out/payload.tar.xz"
commit=$(git -C "$root" rev-parse --short=12 HEAD 2> /dev/null || echo unknown)
[ -z "$(git -C "$root" status --porcelain --untracked-files=no 2> /dev/null)" ] || commit+="-dirty"
{
  echo "tandem GPU bundle (tests/gpu/bundle.sh)"
  echo "commit: $commit"
  echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(. /etc/os-release && echo "$PRETTY_NAME"), $(ldd --version | head -1)"
  echo "requires: x86-64 Linux with glibc >= ${max_glibc#GLIBC_}, the NVIDIA driver (CUDA 13), and libcudart.so.13, libcublasLt.so.13 (opened at first use), libcudnn.so.9, libcurand.so.10, libnccl.so.2"
  echo "payload: $(stat -c %s "$out/payload.tar.xz") bytes compressed, $(du -sb "$stage" | cut -f1) bytes unpacked"
  echo
  "$build/launch/tandem" --version 2>&1 | sed -n '1p'
  echo
  echo "newest GLIBC symbol version per file:"
  printf '%s' "$glibc_report" | sort -V -k1,1
  echo
  echo "files (bytes, NEEDED):"
  (cd "$stage" && find . -type f | sort | while read -r f; do
    if is_elf "$f"; then
      printf '  %10s  %s  [%s]\n' "$(stat -c %s "$f")" "${f#./}" "$(needed "$f" | tr '\n' ' ' | sed 's/ $//')"
    fi
  done)
} > "$out/MANIFEST.txt"

size=$(du -sb "$out" | cut -f1)
tree=$(git -C "$root" ls-files -z | (cd "$root" && xargs -0 du -cb 2> /dev/null) | tail -1 | cut -f1)
limit=$((64 * 1024 * 1024))
say "bundle: $out"
sed -n '2,5p' "$out/MANIFEST.txt"
echo "size: $size bytes ($((size / 1024 / 1024)) MiB) + working tree ${tree:-0} bytes; a device call carries at most $limit"
if [ $((size + ${tree:-0})) -gt "$limit" ]; then
  echo "bundle.sh: the bundle does not fit in one device call" >&2
  exit 1
fi
echo "run here:   bash tests/gpu/check.sh --local --emulated"
echo "GPU check:  device run with carry [\"gpu-bundle\"] and command 'bash tests/gpu/check.sh'"
