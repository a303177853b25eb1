// Transforms with torchvision's semantics (torchvision.transforms, 0.14), applied to one Example
// at a time: the image as a float (C, H, W) tensor in [0, 1] (the values ToTensor gives), and for
// segmentation its mask, which every geometric transform moves alike (nearest-neighbour, padding
// with the mask's fill value, 255 by default as in torchvision's segmentation references).
// Random transforms draw from the generator they are given; the loader seeds one per (seed,
// epoch, example), so a resumed run draws the same crops and flips.
//
// A pipeline is configured as a list with torchvision's class names in lower case and its
// argument names, as model layers are:
//   data:
//     train_transforms:
//       - randomresizedcrop: {size: 224}
//       - randomhorizontalflip
//       - normalize: {mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225]}
//   totensor is accepted and does nothing: images reach the pipeline already scaled to [0, 1].
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "framework/core/value.h"
#include "framework/data/example.h"
#include "framework/tensor/generator.h"

namespace tandem::data {

class Transform {
 public:
  virtual ~Transform() = default;
  virtual void apply(Example& example, Generator& gen) const = 0;
  // "randomcrop(size=[28, 28], padding=4)": for the run's banner and error messages.
  virtual std::string describe() const = 0;
  // Whether apply() draws from the generator.
  virtual bool random() const { return false; }
};

class TransformPipeline {
 public:
  void add(std::unique_ptr<Transform> transform);
  void apply(Example& example, Generator& gen) const;
  bool empty() const { return transforms_.empty(); }
  bool random() const;
  size_t size() const { return transforms_.size(); }
  std::string describe() const;  // "resize(...) -> centercrop(...)", "none"

 private:
  std::vector<std::unique_ptr<Transform>> transforms_;
};

struct TransformOptions {
  int64_t mask_fill = 255;  // padding value for masks (the ignore_index)
};

// Builds a pipeline from a config list (see above). `path` names the list in errors
// ("data.train_transforms"): "data.train_transforms[1].randomcrop: missing required argument
// 'size'", with a suggestion for a misspelt transform or argument.
TransformPipeline parse_transforms(const Value& list, const std::string& path,
                                   const TransformOptions& options = {});
// The transform names parse_transforms knows, for documentation and suggestions.
std::vector<std::string> transform_names();

// --- the transforms, usable directly --------------------------------------------------------

// RandomCrop(size, padding, pad_if_needed, fill): pads by `padding` (left/right by padding[0],
// top/bottom by padding[1] when two values are given; four: left, top, right, bottom) with
// `fill`, then takes a size[0] x size[1] crop at a uniformly drawn position.
struct RandomCropOptions {
  int64_t height = 0, width = 0;
  std::vector<int64_t> padding;  // empty, {all}, {left/right, top/bottom} or {l, t, r, b}
  bool pad_if_needed = false;
  float fill = 0;
};
std::unique_ptr<Transform> random_crop(RandomCropOptions options, TransformOptions common = {});
// RandomHorizontalFlip(p).
std::unique_ptr<Transform> random_horizontal_flip(double p = 0.5);
// Normalize(mean, std): (x - mean[c]) / std[c]; one value applies to every channel.
std::unique_ptr<Transform> normalize(std::vector<float> mean, std::vector<float> std);

}  // namespace tandem::data
