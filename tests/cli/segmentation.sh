#!/usr/bin/env bash
# Your own data through the CLI (issue #18), under mpirun -np 2: an image_folder and a
# segmentation_folder made from the test fixtures (tests/fixtures/images), a tensor_files
# dataset written by tandem_make_input, and the zoo U-Net on
# fashion_mnist_segmentation. Each run's metrics.jsonl holds the segmentation metrics, the .pt
# export holds best_iou, tandem eval prints the IoU the run recorded, and tandem predict writes
# PNG masks (segmentation) or a JSON of classes (classification). Bad data ends with exit 2 and
# an error naming the file or key.
source "$(dirname "$0")/common.sh"
set -e
fixtures="$TANDEM_SOURCE/tests/fixtures/images"
# Both splits are the same files: the test is about the plumbing, not generalisation.
mkdir -p "$work/folder" "$work/seg"
for split in train val; do
  ln -s "$fixtures/folder" "$work/folder/$split"
  ln -s "$fixtures/seg" "$work/seg/$split"
done
cd "$work"
train() {  # train NAME CONFIG [--set ...]: a 2-rank run into run_NAME
  local name=$1 cfg=$2
  shift 2
  $MPIRUN -np 2 "$TANDEM" train "$cfg" --set checkpoint.dir="run_$name" "$@" > "$name.log" 2>&1 ||
    { cat "$name.log"; fail "$name: training failed"; }
}
last_value() { grep -o "\"$1\":[^,}]*" "$2" | tail -1 | cut -d: -f2; }

# --- image_folder: the fixture folder holds a truncated JPEG, left out with a warning ---------
cat > folder.yaml <<'YAML'
seed: 0
model: {name: sequential, layers: [flatten, {linear: {in_features: 192, out_features: 3}}]}
data:
  dataset: image_folder
  root: folder
  batch_size: 4
  skip_bad_images: true
  train_transforms: [{randomresizedcrop: 8}, randomhorizontalflip]
  val_transforms: [{resize: 8}, {centercrop: 8}, {normalize: {mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5]}}]
optimizer: {name: sgd, lr: 0.1}
training: {epochs: 2, log_every: 1}
YAML
train folder folder.yaml
grep -q "skipping folder/train/lower/truncated.jpg" folder.log || fail "no warning for the truncated JPEG"
grep -q '"val_accuracy"' run_folder/metrics.jsonl || fail "image_folder: no val_accuracy"
echo "ok: image_folder trains under mpirun -np 2, skipping the bad file with a warning"
"$TANDEM" predict folder.yaml --checkpoint run_folder/best.safetensors --input folder/val/Upper \
  --output classes.json > predict.out
grep -q '"images":6' predict.out || { cat predict.out; fail "predict: expected 6 images"; }
[ "$(grep -c '"class"' classes.json)" = 6 ] || fail "predict: classes.json has no class per image"
echo "ok: tandem predict of an image folder writes a class per image"
expect_error 2 "error: cannot decode JPEG image folder/train/lower/truncated.jpg" -- \
  "$TANDEM" train folder.yaml --set checkpoint.dir=run_strict --set data.skip_bad_images=false

# --- segmentation_folder: masks resized with the images (nearest) ----------------------------
cat > seg.yaml <<'YAML'
seed: 0
model: {name: sequential, layers: [{conv2d: {in_channels: 3, out_channels: 3, kernel_size: 3, padding: 1}}]}
data:
  dataset: segmentation_folder
  root: seg
  num_classes: 3
  batch_size: 1
  train_transforms: [{resize: [8, 8]}, randomhorizontalflip]
  val_transforms: [{resize: [8, 8]}]
optimizer: {name: sgd, lr: 0.1}
training: {epochs: 2, log_every: 1}
checkpoint: {monitor: iou}
YAML
train seg seg.yaml
for key in val_iou val_dice val_class_iou val_class_dice; do
  grep -q "\"$key\"" run_seg/metrics.jsonl || fail "segmentation: no $key in metrics.jsonl"
done
grep -q "mean IoU" seg.log || fail "segmentation: the epoch line has no mean IoU"
best_iou=$(grep -o '"val_iou":[^,}]*' run_seg/metrics.jsonl | cut -d: -f2 | sort -g | tail -1)
"$TANDEM" eval --checkpoint run_seg/best.safetensors > eval.json
[ "$(last_value iou eval.json)" = "$best_iou" ] || fail "eval iou $(cat eval.json) != recorded best $best_iou"
echo "ok: tandem eval of best.safetensors prints the best recorded IoU ($best_iou)"
"$TANDEM" convert run_seg/best.safetensors best.pt > /dev/null
"$TANDEM" inspect best.pt > inspect.txt
grep -q "best_iou" inspect.txt || { cat inspect.txt; fail "the .pt export has no best_iou"; }
echo "ok: the .pt export holds best_iou"
"$TANDEM" predict --checkpoint run_seg/best.safetensors --input seg/val/images --output masks > /dev/null
for m in masks/a.png masks/b.png; do
  [ "$(head -c 8 "$m" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] || fail "$m is not a PNG"
done
echo "ok: tandem predict writes a PNG mask per image"
expect_error 2 "error: .*data.num_classes" -- "$TANDEM" train seg.yaml --set data.num_classes=0
expect_error 2 "error: .*masks/a.png.*not a class" -- \
  "$TANDEM" train seg.yaml --set checkpoint.dir=run_seg2 --set data.num_classes=2 \
  --set data.train_transforms=null --set data.val_transforms=null

# --- tensor_files: memory-mapped safetensors with uint8 images and labels ---------------------
mkdir tensors
"$TANDEM_MAKE_INPUT" --tensor-files tensors
train tensors "$TANDEM_SOURCE/configs/synthetic.yaml" --set data.dataset=tensor_files \
  --set data.root=tensors --set training.epochs=3
acc=$(last_value val_accuracy run_tensors/metrics.jsonl)
awk -v v="$acc" 'BEGIN { exit !(v >= 0.75) }' || fail "tensor_files: accuracy $acc after 3 epochs"
echo "ok: tensor_files trains under mpirun -np 2 (accuracy $acc)"

# --- the zoo U-Net on fashion_mnist_segmentation (a few steps) -------------------------------
train unet "$TANDEM_SOURCE/configs/fashion_mnist_unet.yaml" --set model.width=4 \
  --set training.epochs=1 --set training.max_steps_per_epoch=3 --set data.eval_batch_size=500
iou=$(last_value val_iou run_unet/metrics.jsonl)
awk -v v="$iou" 'BEGIN { exit !(v > 0 && v < 1) }' || fail "U-Net: mean IoU '$iou' out of (0, 1)"
echo "ok: U-Net on fashion_mnist_segmentation under mpirun -np 2 (mean IoU $iou after 3 steps)"
