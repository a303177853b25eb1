#!/usr/bin/env bash
# Every command README.md shows holds: this script extracts them (the lines of ```sh blocks, the
# synopsis lines of the command-line block, and every inline `code` that starts like a command,
# after any VAR=value settings)
# and handles each one below, by exact text. A command is
#   run     as written, in a fresh directory holding configs/ (a training run shortened to 2
#           steps by --set options appended to it; mpirun as root with Open MPI's root variables,
#           which is what README says tandem-run adds),
#   checked against what it claims (a synopsis against `tandem --help`, the YAML example with
#           --print-config, the set-up's package list against CI's), or
#   tied    to the CI stage or test that runs it (the ones that install onto this machine, build a
#           Debian package or need a GPU), by checking that the stage runs it.
# A command README gains without a case here fails the test, so README and this list cannot drift
# apart. Needs TANDEM (the built tandem), TANDEM_SOURCE and MPIRUN (ctest sets them).
source "$(dirname "$0")/../cli/common.sh"
set -e
readme=$TANDEM_SOURCE/README.md
bin=$(cd "$(dirname "$TANDEM")" && pwd)
# `tandem` and `tandem-run` on PATH, as `cmake --install` puts them (the package stage checks
# the installed ones).
export PATH="$bin:$TANDEM_SOURCE/launch:$PATH"
if [ "$(id -u)" = 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
export OMPI_MCA_rmaps_base_oversubscribe=1  # 2 ranks on a 1-core machine too

# Two epochs of two steps instead of ten epochs; synthetic 28x28 images where Debian's dataset is missing.
short=(--set training.epochs=2 --set training.max_steps_per_epoch=2)  # the warm-up is 1 epoch
if [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  echo "note: no dataset-fashion-mnist here: the training commands run on synthetic 28x28 images"
  short+=(--set data.dataset=synthetic --set 'data.synthetic_shape=[1,28,28]' --set data.synthetic_classes=10)
fi

# --- extract -------------------------------------------------------------------------------------
awk -v yaml="$work/readme" '
  function flush(  s, t) {
    s = para; para = ""
    while (match(s, /`[^`]+`/)) {
      t = substr(s, RSTART + 1, RLENGTH - 2)
      s = substr(s, RSTART + RLENGTH)
      if (t ~ /^([A-Z_]+=("[^"]*"|[^ ]*) )*(bash|tandem|tandem-run|mpirun|cmake|cpack|apt-get|g\+\+|pkg-config|kill|ldconfig) /)
        print "inline\t" t
    }
  }
  /^```/ {
    if (fence == "") {
      flush(); fence = substr($0, 4); if (fence == "") fence = "plain"
      if (fence == "yaml") yamls++
    }
    else fence = ""
    next
  }
  fence == "sh" { if ($0 != "") print "sh\t" $0; next }
  fence == "plain" {
    if ($0 ~ /^tandem/) { p = $0; sub(/ +#.*$/, "", p); gsub(/ +/, " ", p); print "synopsis\t" p }
    next
  }
  fence == "yaml" { print > (yaml "_" yamls ".yaml"); next }  # readme_1.yaml, readme_2.yaml, ...
  fence != "" { next }
  /^[ \t]*$/ { flush(); next }
  { para = para " " $0 }
  END { flush() }
' "$readme" | awk '!seen[$0]++' > "$work/commands.tsv"  # each distinct command once, in order
[ "$(wc -l < "$work/commands.tsv")" -ge 15 ] || { cat "$work/commands.tsv"; fail "too few commands found in README.md"; }

# --- helpers -------------------------------------------------------------------------------------
# A fresh directory with configs/, as the repository root is for README's commands.
fresh() {
  local d
  d=$(mktemp -d "$work/run.XXXXXX")
  ln -s "$TANDEM_SOURCE/configs" "$d/configs"
  echo "$d"
}
# run_shortened DIR COMMAND...: the command as written plus the shortening options, in DIR.
run_shortened() {
  local dir=$1
  shift
  (cd "$dir" && "$@" "${short[@]}" > "$dir/log" 2>&1 < /dev/null) || { tail -30 "$dir/log"; fail "'$*' failed"; }
}
# The package list of an `apt-get install` command (README's, or tests/ci.sh's deps()).
apt_packages() { sed -e 's/.*--no-install-recommends//' -e 's/&&.*//' | tr ' \\' '\n\n' | grep -v '^$' | sort -u; }
ci_script=$TANDEM_SOURCE/tests/ci.sh
package_script=$TANDEM_SOURCE/tests/package/check.sh
# tied TEXT SCRIPT PATTERN...: SCRIPT contains every PATTERN (fixed strings): the CI stage that
# runs TEXT does so.
tied() {
  local text=$1 script=$2
  shift 2
  for p in "$@"; do grep -qF -- "$p" "$script" || fail "README's '$text': $script does not run '$p'"; done
  echo "tied: $text -> $(basename "$(dirname "$script")")/$(basename "$script")"
}

synopses=$("$TANDEM" --help | sed -e 's/^ *//' -e 's/  */ /g'; tandem-run --help | sed -e 's/^usage: //' -e 's/ *(.*//')
training_run=""  # the directory of the tandem-run training, for the commands that use its files

# compare_cnn_row TEXT NAME ROW VAR=VALUE...: a README variant of bench/compare.sh, shortened to its
# cnn row (2 steps per epoch, one repeat) with the variant's settings; the table must hold ROW.
compare_cnn_row() {
  local text=$1 name=$2 row=$3
  shift 3
  if [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
    echo "checked: $text parses (it needs dataset-fashion-mnist to run)"
    return
  fi
  local log="$work/compare_$name.log"
  (cd "$TANDEM_SOURCE" && env "$@" RUNS=cnn REPEATS=1 CNN_STEPS=2 WARMUP=1 OUT="$work/compare_$name" \
    bash bench/compare.sh "$(dirname "$bin")" > "$log" 2>&1) || { tail -20 "$log"; fail "'$text' failed"; }
  grep -q "$row" "$log" || { tail -20 "$log"; fail "'$text' printed no table"; }
  echo "run: $text (the cnn row, 2 steps per epoch)"
}

handle() {
  local kind=$1 text=$2
  case "$kind|$text" in
    # Set up: the packages are CI's (its deps stage installs them and clang); the build is CI's
    # build stage (with the tests on); `cmake --install` is the package stage's; then train.
    "sh|apt-get update && apt-get install -y --no-install-recommends "*" && cmake -S . -B build -DTANDEM_BUILD_TESTS=OFF && cmake --build build -j\"\$(nproc)\" && cmake --install build && tandem-run -np 2 train configs/fashion_mnist_cnn.yaml")
      local missing
      missing=$(comm -23 <(apt_packages <<< "$text") <(sed -n '/^deps()/,/^}/p' "$ci_script" | grep -v 'apt-get update' | tr -d '\n' | apt_packages))
      [ -z "$missing" ] || fail "README installs packages CI does not: $missing"
      grep -q '^option(TANDEM_BUILD_TESTS' "$TANDEM_SOURCE/CMakeLists.txt" || fail "no option TANDEM_BUILD_TESTS"
      tied "cmake --install build" "$package_script" 'cmake --install "$build"'
      training_run=$(fresh)
      run_shortened "$training_run" tandem-run -np 2 train configs/fashion_mnist_cnn.yaml
      grep -q "world size 2" "$training_run/log" || fail "tandem-run did not start 2 ranks"
      [ -f "$training_run/runs/fashion_mnist_cnn/best.safetensors" ] || fail "the set-up's training wrote no best.safetensors"
      echo "run: set-up (packages = CI's, build = CI's build stage, install = package stage), tandem-run -np 2 train"
      ;;
    "sh|bash tests/ci.sh")
      bash -n "$ci_script" || fail "tests/ci.sh does not parse"
      echo "tied: bash tests/ci.sh is CI's own command"
      ;;
    "sh|tandem eval configs/fashion_mnist_cnn.yaml --checkpoint weights_from_pytorch.pth")
      [ -n "$training_run" ] || fail "the set-up command must come first"
      # A .pth of this model, as torch.save writes it (tandem's writer; test_io checks PyTorch's).
      (cd "$training_run" && tandem convert runs/fashion_mnist_cnn/best.safetensors weights_from_pytorch.pth > /dev/null)
      (cd "$training_run" && $text > eval.json 2> eval.err) || { cat "$training_run/eval.err"; fail "'$text' failed"; }
      grep -q '^{"split":"test","loss":.*,"accuracy":.*,"samples":' "$training_run/eval.json" || fail "'$text' printed $(cat "$training_run/eval.json")"
      echo "run: $text"
      ;;
    "sh|tandem convert runs/fashion_mnist_cnn/best.safetensors best.pt   # torch.load(...) reads it")
      (cd "$training_run" && ${text%%#*} > /dev/null) || fail "'$text' failed"
      tandem inspect "$training_run/best.pt" | grep -q "torch zip" || fail "best.pt is not a torch file"
      echo "run: ${text%%#*}"
      ;;
    "sh|cmake -S . -B build-deb -DTANDEM_CUDA=OFF -DTANDEM_BUILD_TESTS=OFF -DTANDEM_BUILD_BENCH=OFF -DTANDEM_BUILD_EXAMPLES=OFF && cmake --build build-deb -j\"\$(nproc)\" && (cd build-deb && cpack -G DEB) && apt-get install -y ./build-deb/tandem_*.deb")
      tied "the .deb" "$package_script" "-DTANDEM_CUDA=OFF -DTANDEM_BUILD_TESTS=OFF -DTANDEM_BUILD_BENCH=OFF -DTANDEM_BUILD_EXAMPLES=OFF" \
        'cpack -G DEB' 'apt-get install --simulate'
      tied "tests/package/check.sh --deb" "$ci_script" 'tests/package/check.sh --deb'
      ;;
    synopsis\|*)
      grep -qxF -- "$text" <<< "$synopses" || { echo "$synopses"; fail "README's synopsis '$text' is not in tandem --help"; }
      echo "checked: synopsis '$text'"
      ;;
    "inline|mpirun -np 2 tandem train configs/fashion_mnist_cnn.yaml")
      local d
      d=$(fresh)
      run_shortened "$d" mpirun -np 2 tandem train configs/fashion_mnist_cnn.yaml
      grep -q "world size 2" "$d/log" || fail "mpirun did not start 2 ranks"
      echo "run: $text"
      ;;
    "inline|mpirun -np 2 tandem train configs/fashion_mnist_unet.yaml")
      local d
      d=$(fresh)
      # A 4-channel first stage: the two evaluations of 10,000 images at the config's 16 channels
      # would take a minute of CI's two cores; the command and the data are the README's.
      run_shortened "$d" mpirun -np 2 tandem train configs/fashion_mnist_unet.yaml --set model.width=4 --set data.eval_batch_size=500
      grep -q "mean IoU" "$d/log" || { cat "$d/log"; fail "'$text' printed no mean IoU"; }
      echo "run: $text"
      ;;
    "inline|tandem-run train configs/fashion_mnist_cnn.yaml --set training.device=cuda")
      # One rank per GPU: two emulated ones here (tests/cli/tandem_run.sh checks the counting and
      # the NUMA binding on a faked machine).
      local d
      d=$(fresh)
      TANDEM_EMULATE_CUDA=2 run_shortened "$d" tandem-run train configs/fashion_mnist_cnn.yaml --set training.device=cuda
      grep -qF "world size 2, devices [rank 0: cuda:0, rank 1: cuda:1] (emulated)" "$d/log" ||
        { cat "$d/log"; fail "tandem-run did not start a rank per GPU"; }
      echo "run: $text (on 2 emulated GPUs)"
      ;;
    "inline|bash bench/ddp_throughput.sh")
      bash -n "$TANDEM_SOURCE/bench/ddp_throughput.sh" || fail "bench/ddp_throughput.sh does not parse"
      if /usr/bin/python3 -c "import torch" 2> /dev/null && [ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
        (cd "$TANDEM_SOURCE" && REPEATS=1 MLP_STEPS=3 CNN_STEPS=2 EPOCHS=2 WARMUP=1 OUT="$work/ddp_throughput" \
          bash bench/ddp_throughput.sh "$(dirname "$bin")" > "$work/ddp_throughput.log" 2>&1) ||
          { tail -20 "$work/ddp_throughput.log"; fail "'$text' failed"; }
        grep -q "^cnn *2 " "$work/ddp_throughput.log" || fail "'$text' printed no table"
        echo "run: $text (2-3 steps per epoch)"
      else
        echo "checked: $text parses (it needs python3-torch and dataset-fashion-mnist to run)"
      fi
      ;;
    "inline|bash bench/compare.sh")
      bash -n "$TANDEM_SOURCE/bench/compare.sh" || fail "bench/compare.sh does not parse"
      if [ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
        (cd "$TANDEM_SOURCE" && REPEATS=1 MLP_STEPS=2 CNN_STEPS=2 RESNET_STEPS=1 WARMUP=1 OUT="$work/compare" \
          bash bench/compare.sh "$(dirname "$bin")" > "$work/compare.log" 2>&1) ||
          { tail -20 "$work/compare.log"; fail "'$text' failed"; }
        grep -q "^| cnn, 2 ranks |" "$work/compare.log" || fail "'$text' printed no table"
        echo "run: $text (1-2 steps per epoch)"
      else
        echo "checked: $text parses (it needs dataset-fashion-mnist to run)"
      fi
      ;;
    'inline|PRECISION=bf16 RUNS="cnn cnn_config" bash bench/compare.sh')
      compare_cnn_row "$text" bf16 "^| cnn | 64 |" PRECISION=bf16
      ;;
    'inline|THREADS=2 RUNS="cnn cnn_config" bash bench/compare.sh')
      compare_cnn_row "$text" threads "^| cnn | 64 | 2 |" THREADS=2
      ;;
    "inline|bash bench/loader.sh")
      bash -n "$TANDEM_SOURCE/bench/loader.sh" || fail "bench/loader.sh does not parse"
      if /usr/bin/python3 -c "import PIL, numpy" 2> /dev/null; then
        IMAGES=8 WORKERS=1 EPOCHS=1 BATCH=4 OUT="$work/loader" bash "$TANDEM_SOURCE/bench/loader.sh" "$(dirname "$bin")" > "$work/loader.log" 2>&1 ||
          { tail -20 "$work/loader.log"; fail "'$text' failed"; }
        grep -q "^train *1 " "$work/loader.log" || { cat "$work/loader.log"; fail "'$text' printed no table"; }
        echo "run: $text (8 images)"
      else
        echo "checked: $text parses (it needs python3-pil to make its images)"
      fi
      ;;
    "inline|bash bench/gpu/ddp_scaling.sh")
      tied "$text" "$TANDEM_SOURCE/bench/CMakeLists.txt" 'bench_ddp_scaling_smoke' 'gpu/ddp_scaling.sh'
      ;;
    "inline|tandem-run --dry-run ...")
      tandem-run --dry-run train "$TANDEM_SOURCE/configs/fashion_mnist_cnn.yaml" | grep -q "^command: " ||
        fail "tandem-run --dry-run printed no command"
      echo "run: $text"
      ;;
    "inline|tandem train configs/fashion_mnist_cnn.yaml --set training.device=cuda")
      local d
      d=$(fresh)
      TANDEM_EMULATE_CUDA=1 run_shortened "$d" tandem train configs/fashion_mnist_cnn.yaml --set training.device=cuda
      grep -q "device cuda:0" "$d/log" || { cat "$d/log"; fail "the run is not on cuda:0"; }
      echo "run: $text (on the emulated device)"
      ;;
    "inline|tandem --version")
      tandem --version | head -1 | grep -q "^tandem [0-9]" || fail "tandem --version"
      echo "run: $text"
      ;;
    "inline|tandem train --help-config")
      tandem train --help-config | grep -q "^init_strict (default: true)" || fail "--help-config lacks init_strict"
      echo "run: $text"
      ;;
    "inline|bash tests/gpu/bundle.sh" | "inline|bash tests/gpu/check.sh" | "inline|bash tests/gpu/check.sh --local --emulated")
      # A GPU machine's (a portable Release build and the GPU run); here: the script parses and
      # answers --help, as ctest's gpu_check_scripts also checks.
      local script=${text#bash }
      script=${script%% *}
      bash -n "$TANDEM_SOURCE/$script" && bash "$TANDEM_SOURCE/$script" --help > /dev/null || fail "$script"
      echo "tied: $text (GPU machine; parses and answers --help here)"
      ;;
    "inline|cmake --install build")
      tied "$text" "$package_script" 'cmake --install "$build"'
      ;;
    "inline|g++ -O2 app.cpp \$(pkg-config --cflags --libs tandem)")
      tied "$text" "$package_script" 'g++ -O2 app.cpp $(pkg-config --cflags --libs tandem)'
      ;;
    "inline|cpack -G DEB")
      tied "$text" "$package_script" 'cpack -G DEB'
      ;;
    "inline|apt-get install --simulate")
      tied "$text" "$package_script" 'apt-get install --simulate --no-install-recommends -o Dir::State::status='
      ;;
    # Names of commands in prose, not commands to run.
    "inline|tandem train" | "inline|tandem eval" | "inline|tandem predict" | \
    "inline|tandem train/eval/predict" | "inline|mpirun -np 2/3/4" | "inline|kill -9" | \
    "inline|mpirun -np 2 tandem train ..." | "inline|cmake --install")
      ;;
    *)
      fail "README.md has a command this test does not know: [$kind] $text (add a case to tests/readme/commands.sh)"
      ;;
  esac
}

while IFS=$'\t' read -r kind text <&3; do handle "$kind" "$text" < /dev/null; done 3< "$work/commands.tsv"

# The run config example (the first YAML block) and each further example (a part of a config,
# the rest default): valid configs (--print-config checks every section).
[ -s "$work/readme_1.yaml" ] || fail "no yaml block in README.md"
for y in "$work"/readme_*.yaml; do
  tandem train "$y" --print-config > "$work/resolved.yaml" || fail "README's YAML example $(basename "$y") is not a valid config"
done
tandem train "$work/readme_1.yaml" --print-config > "$work/resolved_first.yaml"
grep -qx "init_strict: true" "$work/resolved_first.yaml" || fail "README's YAML example: init_strict"
echo "checked: the $(ls "$work"/readme_*.yaml | wc -l) YAML examples are valid configs"
echo "all README commands hold ($(wc -l < "$work/commands.tsv") found)"
