// ImageFolder and SegmentationFolder on the fixture tree of tests/fixtures/make_images.py:
// torchvision's classes, sample order and labels; examples equal to PIL's pixels / 255; bad
// files, empty class folders, missing masks, mask size and value errors naming the file;
// skip_bad_images leaving files out with a warning.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "framework/data/image_folder.h"
#include "framework/data/segmentation_folder.h"
#include "tests/error_text.h"
#include "tests/fixtures_dir.h"
#include "tests/golden_cases.h"
#include "tests/temp_dir.h"

using tandem::testing::TempDir;
using namespace tandem;
using namespace tandem::data;
using tandem::testing::fixture_path;
using tandem::testing::throws_with;
namespace fs = std::filesystem;

namespace {

const nlohmann::json& golden() {
  static const nlohmann::json g = tandem::testing::load_fixture("images.json");
  return g;
}

const std::string& images_root() {
  static const std::string root = fixture_path("images");
  return root;
}

// PIL's pixels for `rel` in `mode`, from the golden file.
std::vector<uint8_t> pil_pixels(const std::string& rel, const std::string& mode) {
  for (const auto& c : golden()["images"])
    if (c["file"] == rel && c["mode"] == mode) {
      const std::string hex = c["pixels"];
      std::vector<uint8_t> out;
      for (size_t i = 0; i < hex.size(); i += 2)
        out.push_back(uint8_t(std::stoi(hex.substr(i, 2), nullptr, 16)));
      return out;
    }
  ADD_FAILURE() << "no golden pixels for " << rel << " " << mode;
  return {};
}

// A copy of the fixture folder split without its truncated file, in a temporary directory.
void copy_folder(const std::string& to) {
  fs::copy(images_root() + "/folder", to, fs::copy_options::recursive);
  fs::remove(to + "/lower/truncated.jpg");
}

Image gray_image(int64_t h, int64_t w, uint8_t value) {
  return Image{h, w, 1, std::vector<uint8_t>(size_t(h * w), value)};
}

}  // namespace

TEST(ImageFolder, ClassesAndSamplesAreTorchvisions) {
  ASSERT_TRUE(golden().is_object()) << "tests/fixtures/images.json is missing";
  ImageFolder ds(images_root() + "/folder/");  // a trailing slash changes nothing
  EXPECT_EQ(ds.classes(), golden()["classes"].get<std::vector<std::string>>());
  EXPECT_EQ(ds.num_classes(), 3);
  const auto& samples = golden()["samples"];
  ASSERT_EQ(ds.size(), int64_t(samples.size()));
  for (int64_t i = 0; i < ds.size(); ++i) {
    EXPECT_EQ(ds.describe(i), images_root() + "/" + samples[size_t(i)][0].get<std::string>());
    EXPECT_EQ(ds.samples()[size_t(i)].target, samples[size_t(i)][1].get<int64_t>());
  }
  EXPECT_EQ(ds.name(), "image_folder:" + images_root() + "/folder");
}

TEST(ImageFolder, ExamplesArePilPixelsOver255) {
  for (ColorMode mode : {ColorMode::RGB, ColorMode::Gray}) {
    ImageFolder ds(images_root() + "/folder", mode);
    const std::string mode_name = mode == ColorMode::RGB ? "rgb" : "gray";
    const int64_t channels = mode == ColorMode::RGB ? 3 : 1;
    Example ex;
    int loaded = 0;
    for (int64_t i = 0; i < ds.size(); ++i) {
      const std::string rel = golden()["samples"][size_t(i)][0];
      if (rel.find("truncated") != std::string::npos) continue;
      SCOPED_TRACE(rel + " " + mode_name);
      ds.load(i, ex);
      const std::vector<uint8_t> want = pil_pixels(rel, mode_name);
      ASSERT_EQ(ex.shape.size(), 3u);
      ASSERT_EQ(ex.shape[0], channels);
      const int64_t hw = ex.shape[1] * ex.shape[2];
      ASSERT_EQ(int64_t(want.size()), hw * channels);
      for (int64_t c = 0; c < channels; ++c)
        for (int64_t p = 0; p < hw; ++p)
          ASSERT_EQ(ex.image[size_t(c * hw + p)], float(want[size_t(p * channels + c)]) / 255.0f);
      EXPECT_EQ(ex.label, golden()["samples"][size_t(i)][1].get<int64_t>());
      EXPECT_FALSE(ex.has_mask());
      ++loaded;
    }
    EXPECT_EQ(loaded, ds.size() - 1);
  }
}

TEST(ImageFolder, BadFileErrorsAtLoadOrIsSkippedWithAWarning) {
  const std::string truncated = images_root() + "/folder/lower/truncated.jpg";
  ImageFolder ds(images_root() + "/folder");
  int64_t at = -1;
  for (int64_t i = 0; i < ds.size(); ++i)
    if (ds.describe(i) == truncated) at = i;
  ASSERT_GE(at, 0);
  Example ex;
  EXPECT_TRUE(throws_with([&] { ds.load(at, ex); }, truncated));

  ::testing::internal::CaptureStderr();
  ImageFolder skipping(images_root() + "/folder", ColorMode::RGB, true);
  const std::string warnings = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(skipping.size(), ds.size() - 1);
  EXPECT_NE(warnings.find("warning: image_folder:" + images_root() + "/folder: skipping " +
                          truncated + ": "),
            std::string::npos)
      << warnings;
  EXPECT_NE(warnings.find("skipped 1 of " + std::to_string(ds.size())), std::string::npos);
  for (int64_t i = 0, j = 0; i < ds.size(); ++i) {
    if (i == at) continue;
    EXPECT_EQ(skipping.describe(j), ds.describe(i));
    EXPECT_EQ(skipping.samples()[size_t(j)].target, ds.samples()[size_t(i)].target);
    ++j;
  }
}

TEST(ImageFolder, LayoutErrorsNameTheFolder) {
  const TempDir t("layout");
  EXPECT_TRUE(throws_with([&] { ImageFolder ds(t.path()); },
                          "couldn't find any class folder in " + t.path()));
  EXPECT_TRUE(throws_with([&] { ImageFolder ds(t.path() + "/missing"); }, t.path() + "/missing"));
  copy_folder(t.path() + "/split");
  EXPECT_NO_THROW(ImageFolder ds(t.path() + "/split"));
  fs::create_directories(t.path() + "/split/zzz/inner");
  std::ofstream(t.path() + "/split/zzz/inner/notes.txt") << "no image here";
  EXPECT_TRUE(throws_with([&] { ImageFolder ds(t.path() + "/split"); },
                          "class folder " + t.path() + "/split/zzz holds no image"));
  fs::remove_all(t.path() + "/split/zzz");
  // An image format PIL reads but tandem does not: an error naming it, or skipped.
  fs::copy_file(images_root() + "/bad/image.bmp", t.path() + "/split/lower/x.bmp");
  EXPECT_TRUE(throws_with([&] { ImageFolder ds(t.path() + "/split"); },
                          t.path() + "/split/lower/x.bmp: an image format tandem does not read"));
  ::testing::internal::CaptureStderr();
  ImageFolder skipping(t.path() + "/split", ColorMode::Gray, true);
  const std::string warnings = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(warnings.find("skipping " + t.path() + "/split/lower/x.bmp"), std::string::npos);
  EXPECT_EQ(skipping.size(), int64_t(golden()["samples"].size()) - 1);
  // A class whose every image is bad is left with nothing: an error, even when skipping.
  fs::create_directories(t.path() + "/split/zzz");
  fs::copy_file(images_root() + "/bad/truncated.png", t.path() + "/split/zzz/t.png");
  ::testing::internal::CaptureStderr();
  EXPECT_TRUE(throws_with([&] { ImageFolder ds(t.path() + "/split", ColorMode::RGB, true); },
                          t.path() + "/split/zzz has no image that decodes"));
  ::testing::internal::GetCapturedStderr();
}

TEST(ImageFolder, FollowsSymbolicLinksButNotLoops) {
  const TempDir t("links");
  copy_folder(t.path() + "/data");
  fs::create_directories(t.path() + "/split");
  fs::create_directory_symlink(t.path() + "/data/lower-case", t.path() + "/split/b_linked");
  fs::create_directories(t.path() + "/split/a/real");
  fs::copy_file(images_root() + "/folder/lower-case/b.png", t.path() + "/split/a/real/x.png");
  fs::create_directory_symlink(t.path() + "/data/Upper/sub", t.path() + "/split/a/linked");
  ImageFolder ds(t.path() + "/split");
  EXPECT_EQ(ds.classes(), (std::vector<std::string>{"a", "b_linked"}));
  // os.walk sorted by path: a/linked (b.png), a/linked/deep (c.png), a/real (x.png).
  const std::vector<std::string> want = {
      t.path() + "/split/a/linked/b.png", t.path() + "/split/a/linked/deep/c.png",
      t.path() + "/split/a/real/x.png", t.path() + "/split/b_linked/a.jpg",
      t.path() + "/split/b_linked/b.png"};
  ASSERT_EQ(ds.size(), int64_t(want.size()));
  for (int64_t i = 0; i < ds.size(); ++i) EXPECT_EQ(ds.describe(i), want[size_t(i)]);
  fs::create_directory_symlink(t.path() + "/split/a", t.path() + "/split/a/real/loop");
  EXPECT_TRUE(throws_with([&] { ImageFolder again(t.path() + "/split"); },
                          "leads back into itself through a symbolic link"));
}

TEST(SegmentationFolder, PairsImagesWithTheirMasks) {
  SegmentationFolder ds(images_root() + "/seg", ColorMode::RGB, 3, 255);
  ASSERT_EQ(ds.size(), 2);
  EXPECT_TRUE(ds.segmentation());
  EXPECT_EQ(ds.num_classes(), 3);
  Example ex;
  for (int64_t i = 0; i < 2; ++i) {
    const std::string stem = i == 0 ? "a" : "b";
    const std::string image = std::string("seg/images/") + (i == 0 ? "a.jpg" : "b.png");
    EXPECT_EQ(ds.image_path(i), images_root() + "/" + image);
    EXPECT_EQ(ds.mask_path(i), images_root() + "/seg/masks/" + stem + ".png");
    EXPECT_NE(ds.describe(i).find(ds.mask_path(i)), std::string::npos);
    ds.load(i, ex);
    const std::vector<uint8_t> mask = pil_pixels("seg/masks/" + stem + ".png", "index");
    const std::vector<uint8_t> rgb = pil_pixels(image, "rgb");
    ASSERT_EQ(ex.mask.size(), mask.size());
    EXPECT_EQ(ex.mask_height * ex.mask_width, int64_t(mask.size()));
    EXPECT_EQ(ex.shape, (Shape{3, ex.mask_height, ex.mask_width}));
    for (size_t p = 0; p < mask.size(); ++p) EXPECT_EQ(ex.mask[p], int64_t(mask[p]));
    EXPECT_EQ(ex.image[0], float(rgb[0]) / 255.0f);
  }
  ds.load(0, ex);
  EXPECT_EQ(ex.mask[0], 255);  // the ignore_index pixel of a.png
}

TEST(SegmentationFolder, MaskErrorsNameTheMaskAndTheValue) {
  const std::string seg = images_root() + "/seg";
  Example ex;
  // a.png holds classes 0..2 and 255.
  SegmentationFolder two(seg, ColorMode::RGB, 2, 255);
  EXPECT_TRUE(
      throws_with([&] { two.load(0, ex); }, "mask " + seg + "/masks/a.png: value 2 at pixel ("));
  SegmentationFolder no_ignore(seg, ColorMode::Gray, 3, -100);
  EXPECT_TRUE(throws_with([&] { no_ignore.load(0, ex); }, "a.png: value 255 at pixel (0, 0)"));

  const TempDir t("seg");
  fs::copy(seg, t.path(), fs::copy_options::recursive);
  write_png(t.path() + "/masks/b.png", gray_image(4, 4, 1));
  SegmentationFolder mismatched(t.path(), ColorMode::RGB, 3);
  EXPECT_TRUE(throws_with([&] { mismatched.load(1, ex); },
                          "mask " + t.path() + "/masks/b.png is 4 x 4 pixels but its image " +
                              t.path() + "/images/b.png is 7 x 9"));
  ::testing::internal::CaptureStderr();
  SegmentationFolder skipping(t.path(), ColorMode::RGB, 3, 255, true);
  const std::string warnings = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(skipping.size(), 1);
  EXPECT_NE(warnings.find("skipping " + t.path() + "/images/b.png"), std::string::npos) << warnings;

  write_png(t.path() + "/masks/b.png", Image{7, 9, 3, std::vector<uint8_t>(7 * 9 * 3, 0)});
  SegmentationFolder rgb_mask(t.path(), ColorMode::RGB, 3);
  EXPECT_TRUE(throws_with([&] { rgb_mask.load(1, ex); },
                          "mask " + t.path() + "/masks/b.png is a RGB image"));

  fs::remove(t.path() + "/masks/b.png");
  EXPECT_TRUE(throws_with(
      [&] { SegmentationFolder ds(t.path(), ColorMode::RGB, 3); },
      "image " + t.path() + "/images/b.png has no mask (expected " + t.path() + "/masks/b.png)"));
  write_png(t.path() + "/masks/b.png", gray_image(7, 9, 0));
  fs::copy_file(t.path() + "/images/b.png", t.path() + "/images/b.jpeg");
  EXPECT_TRUE(
      throws_with([&] { SegmentationFolder ds(t.path(), ColorMode::RGB, 3); }, "share a name"));
  EXPECT_TRUE(throws_with([&] { SegmentationFolder ds(t.path() + "/images", ColorMode::RGB, 3); },
                          "no directory " + t.path() + "/images/images"));
}
