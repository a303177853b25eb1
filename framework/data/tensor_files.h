// TensorFiles: a dataset stored as whole tensors, memory-mapped rather than read whole.
//
//   root/<split>.safetensors      tensors `images` and either `labels` or `masks`, or
//   root/<split>/images.npy       with root/<split>/labels.npy or root/<split>/masks.npy
//                                 (used when root/<split>.safetensors does not exist)
//
// images: (N, C, H, W), or (N, H, W) taken as one channel. uint8 pixels are scaled by 1/255 as
// torchvision's ToTensor does; float32, float16, bfloat16 and float64 values are taken as they
// are. labels: (N), classification. masks: (N, H, W) with the images' H and W, segmentation. Both
// of any integer dtype. Other tensors in a safetensors file are ignored.
//
// split is "train", "val" or "test". "val" falls back to the "test" files when no "val" files
// exist (datasets published with a train/test split), so a config naming a validation split works
// on both layouts; name() says which files were used.
//
// num_classes 0 takes it from the data: the largest label + 1, or for masks the largest mask
// value other than ignore_index + 1, found in one pass over the mapped masks at construction
// (reading every mask once; give num_classes to skip it). Labels are checked against
// [0, num_classes) at construction (they are small); masks are checked as each example loads,
// the error naming the file and example (values equal to ignore_index are allowed in masks).
// Every error names the file.
#pragma once

#include <string>
#include <vector>

#include "framework/data/dataset.h"
#include "framework/tensor/tensor.h"

namespace tandem::data {

class TensorFiles : public Dataset {
 public:
  // ignore_index 255: torchvision's segmentation references' and mmseg's mask value for
  // "not labelled" (and the transforms' mask padding).
  TensorFiles(const std::string& root, const std::string& split, int64_t num_classes = 0,
              int64_t ignore_index = 255);

  int64_t size() const override { return n_; }
  int64_t num_classes() const override { return num_classes_; }
  void load(int64_t index, Example& out) const override;
  std::string name() const override { return "tensor_files:" + source_; }
  // "<images file>[index]".
  std::string describe(int64_t index) const override;
  bool segmentation() const override { return masks_.defined(); }

  const std::string& images_path() const { return images_path_; }
  const std::string& targets_path() const { return targets_path_; }  // labels or masks

 private:
  void check_mask_values(int64_t index, const int64_t* mask) const;

  std::string source_;                      // root/<split>.safetensors or root/<split>
  std::string images_path_, targets_path_;  // the same file for safetensors
  std::string images_what_, targets_what_;  // how errors name them ("....npy", "...: 'masks'")
  Tensor images_, masks_;                   // views into the mappings
  std::vector<int64_t> labels_;             // classification: copied (N values)
  int64_t n_ = 0, channels_ = 1, height_ = 0, width_ = 0;
  int64_t num_classes_ = 0, ignore_index_ = 255;
};

}  // namespace tandem::data
