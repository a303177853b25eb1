// ImageFolder: torchvision.datasets.ImageFolder's layout, classes and sample order exactly, so
// a class index means the same class as in a PyTorch run over the same folder:
//
//   split_dir/cat/0001.jpg        classes: the subdirectories, sorted ("Cat" before "bird")
//   split_dir/cat/more/0002.png   samples: per class, os.walk(followlinks=True) sorted by
//   split_dir/dog/a.jpeg                   directory path, files sorted within a directory,
//                                          kept if their extension is one of IMG_EXTENSIONS
//
// Examples load as ToTensor gives them: (C, H, W) floats in [0, 1], C = 3 for RGB, 1 for Gray.
// tandem decodes JPEG and PNG; a file with another image extension (.bmp, .tif, .webp, ...) is
// an error naming it. A class folder without images is an error naming it (torchvision raises
// too). With skip_bad_images the constructor decodes every file once, on a few threads, and
// leaves out those that fail, with a warning on stderr naming each; without it, a bad file is
// an error naming it when it is loaded.
#pragma once

#include <string>
#include <vector>

#include "framework/data/dataset.h"
#include "framework/data/image_codec.h"

namespace tandem::data {

// One file and its class index (torchvision's samples).
struct ImageSample {
  std::string path;
  int64_t target = 0;
};

class ImageFolder : public Dataset {
 public:
  explicit ImageFolder(const std::string& split_dir, ColorMode mode = ColorMode::RGB,
                       bool skip_bad_images = false);
  int64_t size() const override { return int64_t(samples_.size()); }
  int64_t num_classes() const override { return int64_t(classes_.size()); }
  void load(int64_t index, Example& out) const override;
  std::string name() const override { return "image_folder:" + root_; }
  std::string describe(int64_t index) const override { return samples_[size_t(index)].path; }

  // The class names (folder names), in class-index order.
  const std::vector<std::string>& classes() const { return classes_; }
  const std::vector<ImageSample>& samples() const { return samples_; }

 private:
  std::string root_;
  ColorMode mode_;
  std::vector<std::string> classes_;
  std::vector<ImageSample> samples_;
};

}  // namespace tandem::data
