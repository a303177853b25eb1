#!/usr/bin/env bash
# The data loader alone, tandem against torchvision, on one folder of JPEGs (ImageNet-sized,
# 500x375, made here with PIL): images/s of decode + transforms + batching for each worker count,
# with ImageNet's training pipeline (RandomResizedCrop 224, flip, normalize) and its evaluation
# one (Resize 256, CenterCrop 224, normalize). The torchvision column needs python3-torchvision
# (Debian's); without it only tandem's is printed.
#   bash bench/loader.sh [BUILD_DIR]     (IMAGES=512 WORKERS="0 1 2" BATCH=32 EPOCHS=2)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
images=${IMAGES:-512}
workers_list=${WORKERS:-0 1 2}
batch=${BATCH:-32}
epochs=${EPOCHS:-2}
python=/usr/bin/python3
out=${OUT:-$(mktemp -d /tmp/tandem_loader_bench.XXXXXX)}
folder=$out/images/train
if [ ! -d "$folder" ]; then
  $python - "$folder" "$images" <<'PY'
import os, sys
import numpy as np
from PIL import Image
folder, n = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(0)
for i in range(n):
    d = os.path.join(folder, "class%d" % (i % 4))
    os.makedirs(d, exist_ok=True)
    # Smooth shapes plus some texture, as photographs have (pure noise decodes slower).
    coarse = Image.fromarray(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)).resize((500, 375), Image.BICUBIC)
    px = np.asarray(coarse).astype(np.int16) + rng.integers(-12, 13, (375, 500, 3))
    Image.fromarray(px.clip(0, 255).astype(np.uint8)).save(os.path.join(d, "%05d.jpg" % i), quality=90)
PY
fi
have_torch=0
$python -c "import torchvision" 2> /dev/null && have_torch=1
echo "loader alone: $images JPEGs 500x375, batch $batch, $epochs epochs after one warm-up, $(nproc) cores"
printf '%-6s %-8s %12s %12s %8s\n' pipeline workers tandem torchvision ratio
for mode in train val; do
  for w in $workers_list; do
    t=$("$build/bench/bench_loader" "$folder" "$w" "$batch" "$epochs" "$mode" | awk '{print $2}')
    if [ "$have_torch" = 1 ]; then
      p=$($python "$root/bench/torch_loader.py" "$folder" "$w" "$batch" "$epochs" "$mode" | awk '{print $2}')
      printf '%-6s %-8s %12s %12s %8s\n' "$mode" "$w" "$t" "$p" "$(awk -v a="$t" -v b="$p" 'BEGIN { printf "%.2f", a / b }')"
    else
      printf '%-6s %-8s %12s %12s %8s\n' "$mode" "$w" "$t" "-" "-"
    fi
  done
done
[ "$have_torch" = 1 ] || echo "(torchvision is not installed: apt-get install python3-torchvision for its column)"
