// SegmentationFolder: images and their per-pixel class masks, paired by name (the path under
// images/ or masks/ without its extension; both folders are walked as ImageFolder walks, in the
// same order):
//
//   split_dir/images/0001.jpg    any of torchvision's image extensions (JPEG and PNG decode)
//   split_dir/masks/0001.png     a single-channel PNG (palette or grayscale) whose values are
//                                the class indices: np.array(Image.open(mask)), as in
//                                torchvision's VOCSegmentation; ignore_index (255) marks pixels
//                                that count for nothing
//
// Examples are the image as ToTensor gives it and the mask (mask_height x mask_width, int64).
// An image without a mask is an error naming it. At load, a mask whose size differs from its
// image, or with a value that is neither a class (< num_classes) nor ignore_index, is an error
// naming the mask and the value. With skip_bad_images the constructor loads every pair once and
// leaves out the failing ones with a warning naming each.
#pragma once

#include <string>
#include <vector>

#include "framework/data/dataset.h"
#include "framework/data/image_codec.h"

namespace tandem::data {

class SegmentationFolder : public Dataset {
 public:
  SegmentationFolder(const std::string& split_dir, ColorMode mode, int64_t num_classes,
                     int64_t ignore_index = 255, bool skip_bad_images = false);
  int64_t size() const override { return int64_t(images_.size()); }
  int64_t num_classes() const override { return num_classes_; }
  void load(int64_t index, Example& out) const override;
  std::string name() const override { return "segmentation_folder:" + root_; }
  std::string describe(int64_t index) const override;
  bool segmentation() const override { return true; }

  const std::string& image_path(int64_t index) const { return images_[size_t(index)]; }
  const std::string& mask_path(int64_t index) const { return masks_[size_t(index)]; }

 private:
  std::string root_;
  ColorMode mode_;
  int64_t num_classes_, ignore_index_;
  std::vector<std::string> images_, masks_;
};

}  // namespace tandem::data
