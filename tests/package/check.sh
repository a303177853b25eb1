#!/usr/bin/env bash
# tandem as a user gets it: installed, then used from a project of one's own (CI's package stage).
#   1. `cmake --install BUILD --prefix P` (a temporary prefix), then examples/ configured as a
#      stand-alone project with find_package(tandem) against P, built, and every example run;
#      README's app.cpp built with README's CMake lines and with its pkg-config command, and
#      run; P/bin/tandem and tandem-run train on synthetic data.
#   2. with --deb: a build without CUDA (DEB_BUILD, default build-deb; Debian has no CUDA 12+,
#      cuDNN 9 or NCCL packages) packaged by `cpack -G DEB`; its control fields and contents are
#      checked, `apt-get install --simulate` resolves its dependencies from Debian's archive as on
#      a machine with nothing installed (apt's lists must be there: ci.sh's deps stage), and
#      the package, unpacked into a directory (no root, nothing installed on this machine),
#      builds and runs an example and runs `tandem --version`.
# Each part prints its time. Usage: tests/package/check.sh [--deb] [BUILD]   (BUILD: build)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
deb=0
if [ "${1:-}" = "--deb" ]; then deb=1; shift; fi
build=$(cd "${1:-$root/build}" && pwd)
jobs=${JOBS:-$(nproc)}
work=$(mktemp -d /tmp/tandem_package.XXXXXX)
trap 'rm -rf "$work"' EXIT
start=$SECONDS
stamp() { echo "[package $((SECONDS - start))s] $*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }

# run_examples DIR: runs every example program built in DIR (from a scratch directory: they
# write their files there).
run_examples() {
  local dir=$1 n=0
  mkdir -p "$work/run"
  for exe in "$dir"/*; do
    [ -f "$exe" ] && [ -x "$exe" ] || continue
    (cd "$work/run" && "$exe" > "$work/run/$(basename "$exe").log" 2>&1) ||
      { cat "$work/run/$(basename "$exe").log"; fail "example $(basename "$exe") failed"; }
    n=$((n + 1))
  done
  [ "$n" -ge 7 ] || fail "only $n examples in $dir"
  stamp "$n examples ran: $(cd "$dir" && find . -maxdepth 1 -type f -perm -u+x -printf '%f ' | sort)"
}

# --- 1. cmake --install into a prefix, and a project of one's own against it --------------------
prefix=$work/prefix
stamp "cmake --install $build --prefix $prefix"
cmake --install "$build" --prefix "$prefix" > "$work/install.log" || { cat "$work/install.log"; fail "install"; }
for f in bin/tandem bin/tandem-run include/tandem/tandem.h include/tandem/version.h \
         include/tandem/framework/nn/module.h lib/libtandem.so lib/cmake/tandem/tandemConfig.cmake \
         lib/cmake/tandem/tandemConfigVersion.cmake lib/pkgconfig/tandem.pc \
         share/tandem/configs/synthetic.yaml; do
  [ -e "$prefix/$f" ] || fail "the install has no $f"
done
# Internal headers stay internal.
for f in include/tandem/kernels/kernel_table.h include/tandem/launch/config.h \
         include/tandem/framework/io/pickle.h; do
  [ ! -e "$prefix/$f" ] || fail "the internal header $f was installed"
done

stamp "examples/ with find_package(tandem) against the installed prefix"
cmake -S "$root/examples" -B "$work/examples" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_BUILD_TYPE=Release > "$work/examples.log" 2>&1 || { cat "$work/examples.log"; fail "configure examples"; }
grep -q "$prefix" "$work/examples/CMakeCache.txt" || fail "the examples did not find the installed tandem"
cmake --build "$work/examples" -j"$jobs" >> "$work/examples.log" 2>&1 || { tail -40 "$work/examples.log"; fail "build examples"; }
run_examples "$work/examples"

# README's program (app.cpp), built as README says: with its CMake lines and with its pkg-config
# command, then run (it trains a step of ResNet-18: every kernel it needs is in libtandem).
stamp "README's app.cpp: with find_package(tandem), and with pkg-config"
mkdir -p "$work/app"
awk '/^```cpp$/ { on = 1; next } /^```$/ { on = 0 } on' "$root/README.md" > "$work/app/app.cpp"
{ echo "cmake_minimum_required(VERSION 3.25)"; echo "project(app CXX)"
  awk '/^```cmake$/ { on = 1; next } /^```$/ { on = 0 } on' "$root/README.md"; } > "$work/app/CMakeLists.txt"
grep -q "tandem.h" "$work/app/app.cpp" && grep -q "find_package(tandem" "$work/app/CMakeLists.txt" ||
  fail "README's C++ program or CMake lines not found"
cmake -S "$work/app" -B "$work/app/build" -DCMAKE_PREFIX_PATH="$prefix" > "$work/app.log" 2>&1 &&
  cmake --build "$work/app/build" >> "$work/app.log" 2>&1 || { tail -30 "$work/app.log"; fail "README's CMake project"; }
(cd "$work/app" && build/app > cmake_run.log 2>&1) || { cat "$work/app/cmake_run.log"; fail "README's program (CMake)"; }
# shellcheck disable=SC2046
(cd "$work/app" && export PKG_CONFIG_PATH="$prefix/lib/pkgconfig" &&
  g++ -O2 app.cpp $(pkg-config --cflags --libs tandem)) || fail "README's pkg-config command"
(cd "$work/app" && LD_LIBRARY_PATH="$prefix/lib" ./a.out > pkg_run.log 2>&1) || { cat "$work/app/pkg_run.log"; fail "README's program (pkg-config)"; }
grep -q "^param_groups$" "$work/app/pkg_run.log" && grep -q "Linear(in_features=512, out_features=10" "$work/app/pkg_run.log" ||
  { cat "$work/app/pkg_run.log"; fail "README's program printed something else"; }

stamp "the installed commands: tandem and tandem-run on PATH"
(cd "$work" && PATH="$prefix/bin:$PATH" tandem train "$prefix/share/tandem/configs/synthetic.yaml" \
  --set training.epochs=1 --set checkpoint.dir=run1 > train.log 2>&1) || { cat "$work/train.log"; fail "tandem train"; }
(cd "$work" && PATH="$prefix/bin:$PATH" tandem-run -np 2 train "$prefix/share/tandem/configs/synthetic.yaml" \
  --set training.epochs=1 --set checkpoint.dir=run2 > run.log 2>&1) || { cat "$work/run.log"; fail "tandem-run"; }
grep -q "world size 2" "$work/run.log" || fail "tandem-run did not start 2 ranks"
stamp "install, examples, pkg-config and commands: ok"

[ "$deb" = 1 ] || exit 0

# --- 2. the Debian package ---------------------------------------------------------------------
deb_build=${DEB_BUILD:-$root/build-deb}
stamp "configure and build $deb_build (no CUDA, no tests)"
# README's configuration of the package build.
cmake -S "$root" -B "$deb_build" -DTANDEM_CUDA=OFF -DTANDEM_BUILD_TESTS=OFF -DTANDEM_BUILD_BENCH=OFF -DTANDEM_BUILD_EXAMPLES=OFF \
  > "$work/deb.log" 2>&1 || { cat "$work/deb.log"; fail "configure $deb_build"; }
cmake --build "$deb_build" -j"$jobs" >> "$work/deb.log" 2>&1 || { tail -40 "$work/deb.log"; fail "build $deb_build"; }
stamp "cpack -G DEB"
rm -f "$deb_build"/tandem_*.deb
(cd "$deb_build" && cpack -G DEB > "$work/cpack.log" 2>&1) || { cat "$work/cpack.log"; fail "cpack"; }
package=$(ls "$deb_build"/tandem_*.deb)
dpkg-deb -I "$package" > "$work/control"
cat "$work/control"
depends=$(sed -n 's/^ Depends: //p' "$work/control")
for dep in libopenblas libopenmpi3 libyaml-cpp libzip4 zlib1g libjpeg62-turbo libpng16-16 libstdc++6 \
           openmpi-bin; do
  grep -q "$dep" <<< "$depends" || fail "the package does not depend on $dep: $depends"
done
! grep -qi "cuda\|cudnn\|nccl" <<< "$depends" || fail "the package depends on CUDA: $depends"
dpkg-deb -c "$package" > "$work/contents"
for f in ./usr/bin/tandem ./usr/bin/tandem-run ./usr/lib/libtandem.so.0.10 ./usr/include/tandem/tandem.h \
         ./usr/lib/cmake/tandem/tandemConfig.cmake ./usr/lib/pkgconfig/tandem.pc; do
  grep -q " $f" "$work/contents" || fail "the package has no $f"
done
# As on a fresh Debian 12 (an empty dpkg status: nothing installed), every dependency, down to
# libc6, must come from the archive in apt's lists.
stamp "apt-get install --simulate, as on a machine with nothing installed"
: > "$work/empty_status"
apt-get install --simulate --no-install-recommends -o Dir::State::status="$work/empty_status" \
  "$package" > "$work/apt.log" 2>&1 || { cat "$work/apt.log"; fail "apt-get cannot install the package"; }
grep -E "^Conf tandem " "$work/apt.log" || { cat "$work/apt.log"; fail "apt-get would not install tandem"; }
stamp "apt-get would install $(grep -c '^Inst ' "$work/apt.log") packages from Debian's archive and the .deb"

stamp "the package unpacked: tandem --version, and an example built against it"
dpkg-deb -x "$package" "$work/root"
LD_LIBRARY_PATH="$work/root/usr/lib" "$work/root/usr/bin/tandem" --version | head -1
mkdir -p "$work/deb_example"
cp "$root/examples/CMakeLists.txt" "$root/examples/example_check.h" "$root/examples/checkpoint_dict.cpp" "$work/deb_example/"
cmake -S "$work/deb_example" -B "$work/deb_example/build" -DCMAKE_PREFIX_PATH="$work/root/usr" > "$work/deb_example.log" 2>&1 &&
  cmake --build "$work/deb_example/build" >> "$work/deb_example.log" 2>&1 || { tail -30 "$work/deb_example.log"; fail "an example against the package"; }
(cd "$work/deb_example" && LD_LIBRARY_PATH="$work/root/usr/lib" build/checkpoint_dict > /dev/null) || fail "the example against the package failed"
stamp "Debian package $(basename "$package"): ok"
