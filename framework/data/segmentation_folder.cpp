// Pairing images/ with masks/ by stem, and the mask checks done at every load.
#include "framework/data/segmentation_folder.h"

#include <cctype>
#include <filesystem>
#include <map>

#include "framework/data/image_files.h"
#include "kernels/common/error.h"

namespace tandem::data {

namespace {

bool is_png_name(const std::string& f) {
  if (f.size() < 4) return false;
  std::string ext = f.substr(f.size() - 4);
  for (char& c : ext) c = char(std::tolower(static_cast<unsigned char>(c)));
  return ext == ".png";
}

}  // namespace

SegmentationFolder::SegmentationFolder(const std::string& split_dir, ColorMode mode,
                                       int64_t num_classes, int64_t ignore_index,
                                       bool skip_bad_images)
    : root_(without_trailing_slash(split_dir)),
      mode_(mode),
      num_classes_(num_classes),
      ignore_index_(ignore_index) {
  TANDEM_CHECK(mode != ColorMode::Index, name(),
               ": images load as rgb or gray, not as index (the mode of the masks)");
  TANDEM_CHECK(num_classes > 0, name(), ": num_classes must be positive, got ", num_classes);
  const std::string image_dir = root_ + "/images", mask_dir = root_ + "/masks";
  for (const std::string& dir : {image_dir, mask_dir})
    if (!std::filesystem::is_directory(dir))
      throw Error(name() + ": no directory " + dir,
                  "a segmentation folder holds images/<name>.jpg and masks/<name>.png");
  std::map<std::string, std::string> masks;  // stem -> mask path
  // Keys: the path under images/ or masks/ without its extension ("0001", "city/0001").
  for (const std::string& m : walk_sorted(mask_dir, is_png_name))
    masks.emplace(m.substr(mask_dir.size() + 1, m.size() - mask_dir.size() - 5), m);
  std::map<std::string, std::string> stems;  // key -> image, to find two images sharing a mask
  for (const std::string& image : walk_sorted(image_dir, has_image_extension)) {
    const std::string rel = image.substr(image_dir.size() + 1);
    const std::string key = rel.substr(0, rel.rfind('.'));
    const auto [it, inserted] = stems.emplace(key, image);
    if (!inserted)
      throw Error(name() + ": images " + it->second + " and " + image +
                      " share a name, so they would share the mask " + mask_dir + "/" + key +
                      ".png",
                  "rename one of them");
    const auto m = masks.find(key);
    if (m == masks.end())
      throw Error(
          name() + ": image " + image + " has no mask (expected " + mask_dir + "/" + key + ".png)",
          "every image needs a mask of the same name under masks/, a PNG");
    images_.push_back(image);
    masks_.push_back(m->second);
  }
  TANDEM_CHECK(!images_.empty(), name(), ": no image in ", image_dir);
  if (skip_bad_images) {
    const std::vector<int64_t> bad = find_bad_items(
        name(), size(),
        [&](int64_t i) {
          Example ex;
          load(i, ex);
        },
        [&](int64_t i) { return describe(i); });
    for (auto it = bad.rbegin(); it != bad.rend(); ++it) {
      images_.erase(images_.begin() + *it);
      masks_.erase(masks_.begin() + *it);
    }
    TANDEM_CHECK(!images_.empty(), name(), ": every image was skipped (see the warnings above)");
  }
}

std::string SegmentationFolder::describe(int64_t index) const {
  return images_[size_t(index)] + " (mask " + masks_[size_t(index)] + ")";
}

void SegmentationFolder::load(int64_t index, Example& out) const {
  const std::string& mask_file = masks_[size_t(index)];
  const Image image = read_image(images_[size_t(index)], mode_);
  const Image mask = read_image(mask_file, ColorMode::Index);
  if (mask.height != image.height || mask.width != image.width)
    throw Error("mask " + mask_file + " is " + std::to_string(mask.height) + " x " +
                    std::to_string(mask.width) + " pixels but its image " + images_[size_t(index)] +
                    " is " + std::to_string(image.height) + " x " + std::to_string(image.width),
                "a mask has its image's size");
  for (size_t i = 0; i < mask.pixels.size(); ++i) {
    const int64_t v = mask.pixels[i];
    if (v >= num_classes_ && v != ignore_index_)
      throw Error("mask " + mask_file + ": value " + std::to_string(v) + " at pixel (" +
                      std::to_string(int64_t(i) / mask.width) + ", " +
                      std::to_string(int64_t(i) % mask.width) + ") is not a class (num_classes " +
                      std::to_string(num_classes_) + ") nor ignore_index (" +
                      std::to_string(ignore_index_) + ")",
                  "check data.num_classes and data.ignore_index against the masks' values");
  }
  image_to_example(image, out);
  mask_to_example(mask, out);
  out.label = 0;
}

}  // namespace tandem::data
