// torchvision's find_classes and make_dataset (torchvision/datasets/folder.py, 0.14), then
// decoding through image_codec.
#include "framework/data/image_folder.h"

#include <iostream>

#include "framework/data/image_files.h"
#include "kernels/common/error.h"

namespace tandem::data {

ImageFolder::ImageFolder(const std::string& split_dir, ColorMode mode, bool skip_bad_images)
    : root_(without_trailing_slash(split_dir)), mode_(mode) {
  TANDEM_CHECK(mode != ColorMode::Index, "image_folder:", root_,
               ": images load as rgb or gray, not as index (the mode of segmentation masks)");
  classes_ = sorted_subdirectories(root_);
  if (classes_.empty())
    throw Error("couldn't find any class folder in " + root_,
                "an image folder holds one subdirectory per class: " + root_ +
                    "/<class>/<image>.jpg (torchvision's ImageFolder layout)");
  std::vector<std::string> unsupported;
  for (size_t c = 0; c < classes_.size(); ++c) {
    const std::string class_dir = root_ + "/" + classes_[c];
    const std::vector<std::string> files = walk_sorted(class_dir, has_image_extension);
    if (files.empty())
      throw Error("class folder " + class_dir + " holds no image",
                  "torchvision's ImageFolder refuses it too: add images with one of the "
                  "extensions .jpg .jpeg .png .ppm .bmp .pgm .tif .tiff .webp, or remove the "
                  "folder");
    for (const std::string& f : files) {
      if (has_decodable_extension(f))
        samples_.push_back({f, int64_t(c)});
      else
        unsupported.push_back(f);
    }
  }
  if (!unsupported.empty()) {
    const std::string hint =
        "tandem decodes JPEG and PNG: convert the file (e.g. with PIL: "
        "Image.open(src).save(dst_png)), remove it, or set "
        "data.skip_bad_images: true to leave such files out";
    if (!skip_bad_images)
      throw Error(unsupported.front() + ": an image format tandem does not read (" +
                      std::to_string(unsupported.size()) + " such file(s) in " + root_ + ")",
                  hint);
    for (const std::string& f : unsupported)
      std::cerr << "warning: " << name() << ": skipping " << f
                << ": an image format tandem does not read (it decodes JPEG and PNG)\n";
  }
  if (skip_bad_images) {
    const std::vector<int64_t> bad = find_bad_items(
        name(), size(), [&](int64_t i) { read_image(samples_[size_t(i)].path, mode_); },
        [&](int64_t i) { return samples_[size_t(i)].path; });
    std::vector<ImageSample> good;
    good.reserve(samples_.size() - bad.size());
    size_t next_bad = 0;
    for (size_t i = 0; i < samples_.size(); ++i) {
      if (next_bad < bad.size() && bad[next_bad] == int64_t(i)) {
        ++next_bad;
        continue;
      }
      good.push_back(std::move(samples_[i]));
    }
    samples_ = std::move(good);
    // A class left without examples after skipping would train on nothing: say so.
    std::vector<char> seen(classes_.size(), 0);
    for (const ImageSample& s : samples_) seen[size_t(s.target)] = 1;
    for (size_t c = 0; c < classes_.size(); ++c)
      if (!seen[c])
        throw Error("class folder " + root_ + "/" + classes_[c] +
                        " has no image that decodes (every one was skipped)",
                    "see the warnings above for why each was left out");
  }
}

void ImageFolder::load(int64_t index, Example& out) const {
  const ImageSample& s = samples_[size_t(index)];
  image_to_example(read_image(s.path, mode_), out);
  out.label = s.target;
  out.mask.clear();
  out.mask_height = out.mask_width = 0;
}

}  // namespace tandem::data
