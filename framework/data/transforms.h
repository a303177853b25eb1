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
//     val_transforms:
//       - resize: {size: 256}
//       - centercrop: {size: 224}
//   totensor is accepted and does nothing: images reach the pipeline already scaled to [0, 1].
//
// Resizing follows torchvision's F.resize on a float tensor (resample.h has the rules). One
// default differs from torchvision 0.14's tensor default: antialias is true, so a bilinear or
// bicubic downscale is PIL's (what torchvision users who load PIL images get, and torchvision's
// tensor default from 0.17); antialias: false gives torch's plain upsample_bilinear2d. With
// nearest, antialias does not apply and is ignored (torchvision 0.14 would reject true).
// The random draws are torch's (torch_draws.h): Generator(s) crops and flips as torchvision
// does after torch.manual_seed(s).
#pragma once

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "framework/core/value.h"
#include "framework/data/example.h"
#include "framework/data/resample.h"
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

// torchvision's padding_mode: constant (`fill`), edge (the border pixel repeated), reflect
// (mirrored without repeating the border: 2 1 | 0 1 2), symmetric (mirrored with it: 1 0 | 0 1 2).
enum class PaddingMode { Constant, Edge, Reflect, Symmetric };
const char* padding_mode_name(PaddingMode mode);  // "constant", "edge", ...

// RandomCrop(size, padding, pad_if_needed, fill, padding_mode): pads by `padding` (left/right
// by padding[0], top/bottom by padding[1] when two values are given; four: left, top, right,
// bottom) as padding_mode says, then takes a size[0] x size[1] crop at a uniformly drawn
// position: torch.randint for the row, then the column, and no draw when the crop is the whole
// padded image. A mask is padded by the same mode (constant: with the mask's fill).
struct RandomCropOptions {
  int64_t height = 0, width = 0;
  std::vector<int64_t> padding;  // empty, {all}, {left/right, top/bottom} or {l, t, r, b}
  bool pad_if_needed = false;
  float fill = 0;
  PaddingMode padding_mode = PaddingMode::Constant;
};
std::unique_ptr<Transform> random_crop(RandomCropOptions options, TransformOptions common = {});
// RandomHorizontalFlip(p).
std::unique_ptr<Transform> random_horizontal_flip(double p = 0.5);
// Normalize(mean, std): (x - mean[c]) / std[c]; one value applies to every channel.
std::unique_ptr<Transform> normalize(std::vector<float> mean, std::vector<float> std);

// Resize(size, interpolation, max_size, antialias). size {edge}: the smaller edge becomes
// `edge` and the other int(edge * long / short) (truncated, as torchvision), then both scale
// down so the longer is at most max_size (0: no bound); size {h, w}: exactly that. An image
// already of the output size is left as it is.
struct ResizeOptions {
  std::vector<int64_t> size;
  int64_t max_size = 0;
  Interpolation interpolation = Interpolation::bilinear;
  bool antialias = true;
};
std::unique_ptr<Transform> resize(ResizeOptions options);
// The (height, width) Resize gives an h x w image (torchvision's _compute_resized_output_size).
std::pair<int64_t, int64_t> resized_size(int64_t h, int64_t w, const std::vector<int64_t>& size,
                                         int64_t max_size = 0);

// CenterCrop(size): the central height x width window, offsets int(round((H - h) / 2.0))
// (half-way offsets round to even); a crop larger than the image first pads it (image with 0,
// mask with mask_fill), the extra pixel of an odd padding going right/bottom.
std::unique_ptr<Transform> center_crop(int64_t height, int64_t width, TransformOptions common = {});

// RandomResizedCrop(size, scale, ratio, interpolation, antialias): a window of a random area
// fraction in `scale` and aspect ratio (log-uniform) in `ratio`, resized to height x width.
struct RandomResizedCropOptions {
  int64_t height = 0, width = 0;
  std::array<double, 2> scale{0.08, 1.0};
  std::array<double, 2> ratio{3.0 / 4.0, 4.0 / 3.0};
  Interpolation interpolation = Interpolation::bilinear;
  bool antialias = true;
};
std::unique_ptr<Transform> random_resized_crop(RandomResizedCropOptions options);
struct CropBox {
  int64_t top = 0, left = 0, height = 0, width = 0;
};
// RandomResizedCrop.get_params on an H x W image: up to 10 tries of (area, log-ratio) draws,
// then the central crop clamped to `ratio`.
CropBox random_resized_crop_params(int64_t H, int64_t W, std::array<double, 2> scale,
                                   std::array<double, 2> ratio, Generator& gen);

}  // namespace tandem::data
