// TensorFiles: classification and segmentation data from a safetensors file (written here by
// io::save_safetensors) or from .npy files (io::save_npy, whose bytes are numpy.save's:
// test_npy), every image dtype, the val -> test fallback, num_classes from the data, and every
// error naming the file.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>

#include "framework/data/tensor_files.h"
#include "framework/io/npy.h"
#include "framework/io/safetensors.h"
#include "framework/tensor/factories.h"
#include "tests/error_text.h"
#include "tests/fixtures_dir.h"
#include "tests/temp_dir.h"

using tandem::testing::TempDir;
using namespace tandem;
using namespace tandem::data;
using tandem::testing::error_text;
using tandem::testing::throws_with;

namespace {

Tensor ints(const std::vector<int64_t>& v, const Shape& shape, DType dtype) {
  return from_vector(v, shape).to(dtype);
}

// 3 uint8 images of 2 channels, 2 x 3 pixels: pixel values 0, 7, 14, ... (all distinct).
Tensor u8_images() { return arange(0, 36, 1).mul_(7).reshape({3, 2, 2, 3}).to(DType::UInt8); }

void save_st(const std::string& path, std::initializer_list<std::pair<std::string, Tensor>> ts) {
  io::TensorMap m;
  for (const auto& [k, v] : ts) m.insert(k, v);
  io::save_safetensors(path, m);
}

}  // namespace

TEST(TensorFiles, SafetensorsClassificationWithUint8Images) {
  TempDir dir;
  save_st(dir.file("train.safetensors"),
          {{"images", u8_images()}, {"labels", ints({0, 4, 1}, {3}, DType::Int32)}});
  TensorFiles ds(dir.path(), "train");
  EXPECT_EQ(ds.size(), 3);
  EXPECT_EQ(ds.num_classes(), 5);  // the largest label + 1
  EXPECT_FALSE(ds.segmentation());
  EXPECT_EQ(ds.name(), "tensor_files:" + dir.path() + "/train.safetensors");
  EXPECT_EQ(ds.describe(2), dir.path() + "/train.safetensors[2]");
  Example ex;
  ds.load(1, ex);
  EXPECT_EQ(ex.shape, (Shape{2, 2, 3}));
  EXPECT_EQ(ex.label, 4);
  EXPECT_FALSE(ex.has_mask());
  ASSERT_EQ(ex.image.size(), 12u);
  // ToTensor: img.float().div(255), one IEEE division per pixel.
  for (size_t i = 0; i < 12; ++i) EXPECT_EQ(ex.image[i], float((12 + i) * 7) / 255.0f) << i;
  // A given num_classes above the labels is kept.
  EXPECT_EQ(TensorFiles(dir.path(), "train", 10).num_classes(), 10);
}

// uint8 pixels give exactly torchvision's ToTensor floats, for every value 0..255
// (tests/fixtures/make_npy.py).
TEST(TensorFiles, Uint8ImagesEqualToTensor) {
  TempDir dir;
  io::save_npy(dir.file("train/images.npy"),
               arange(0, 256, 1).reshape({1, 16, 16}).to(DType::UInt8));
  io::save_npy(dir.file("train/labels.npy"), ints({0}, {1}, DType::Int64));
  const Tensor golden = io::load_npy(tandem::testing::fixture_path("npy/to_tensor_256.npy"));
  ASSERT_EQ(golden.sizes(), (Shape{1, 16, 16}));
  Example ex;
  TensorFiles(dir.path(), "train").load(0, ex);
  EXPECT_EQ(ex.shape, (Shape{1, 16, 16}));
  const float* want = golden.data_ptr<float>();
  for (size_t i = 0; i < 256; ++i) EXPECT_EQ(ex.image[i], want[i]) << "pixel value " << i;
}

TEST(TensorFiles, FloatImagesOfEveryDtypeAreTakenAsValues) {
  TempDir dir;
  Tensor values = from_vector(std::vector<double>{0.5, -1.25, 3.0, 0.0, 1.0, 2.0}, {2, 1, 3});
  for (DType d : {DType::Float32, DType::Float64, DType::Float16, DType::BFloat16}) {
    SCOPED_TRACE(dtype_name(d));
    save_st(dir.file("train.safetensors"),
            {{"images", values.to(d)}, {"labels", ints({1, 0}, {2}, DType::UInt8)}});
    TensorFiles ds(dir.path(), "train", 2);
    Example ex;
    ds.load(0, ex);
    EXPECT_EQ(ex.shape, (Shape{1, 1, 3}));  // (N, H, W): one channel
    EXPECT_EQ(ex.image, (std::vector<float>{0.5f, -1.25f, 3.0f}));
    EXPECT_EQ(ex.label, 1);
  }
}

TEST(TensorFiles, SafetensorsSegmentation) {
  TempDir dir;
  // Masks of 2 x 3 for 3 images; 255 is the ignore_index; the largest class is 3.
  Tensor masks =
      ints({0, 1, 2, 255, 0, 0, 3, 3, 3, 3, 3, 3, 1, 1, 1, 2, 2, 255}, {3, 2, 3}, DType::UInt8);
  save_st(dir.file("val.safetensors"), {{"images", u8_images()}, {"masks", masks}});
  TensorFiles ds(dir.path(), "val");
  EXPECT_TRUE(ds.segmentation());
  EXPECT_EQ(ds.num_classes(), 4);  // the largest mask value other than 255, + 1
  Example ex;
  ds.load(0, ex);
  EXPECT_EQ(ex.mask_height, 2);
  EXPECT_EQ(ex.mask_width, 3);
  EXPECT_EQ(ex.mask, (std::vector<int64_t>{0, 1, 2, 255, 0, 0}));
  ds.load(2, ex);
  EXPECT_EQ(ex.mask, (std::vector<int64_t>{1, 1, 1, 2, 2, 255}));
  EXPECT_EQ(ex.image[0], float(24 * 7) / 255.0f);
}

// .npy files in root/<split>/; "val" without val files reads the "test" files; masks and labels
// of several integer dtypes.
TEST(TensorFiles, NpyFilesAndTheTestFallback) {
  TempDir dir;
  io::save_npy(dir.file("test/images.npy"), u8_images());
  io::save_npy(
      dir.file("test/masks.npy"),
      ints({0, 1, 2, 0, 0, 0, 2, 2, 2, 2, 2, 2, 1, 1, 1, 0, 0, -1}, {3, 2, 3}, DType::Int16));
  TensorFiles ds(dir.path(), "val", 3, /*ignore_index=*/-1);
  EXPECT_EQ(ds.name(), "tensor_files:" + dir.path() + "/test");
  EXPECT_EQ(ds.images_path(), dir.path() + "/test/images.npy");
  EXPECT_EQ(ds.targets_path(), dir.path() + "/test/masks.npy");
  Example ex;
  ds.load(2, ex);
  EXPECT_EQ(ex.mask, (std::vector<int64_t>{1, 1, 1, 0, 0, -1}));
  EXPECT_EQ(ex.shape, (Shape{2, 2, 3}));

  for (DType d : {DType::UInt8, DType::Int8, DType::Int16, DType::Int32, DType::Int64}) {
    SCOPED_TRACE(dtype_name(d));
    io::save_npy(dir.file("train/images.npy"), u8_images().to(DType::Float32));
    io::save_npy(dir.file("train/labels.npy"), ints({2, 0, 1}, {3}, d));
    TensorFiles cls(dir.path(), "train");
    EXPECT_EQ(cls.num_classes(), 3);
    cls.load(0, ex);
    EXPECT_EQ(ex.label, 2);
    EXPECT_FALSE(ex.has_mask());   // the reused Example's mask is cleared
    EXPECT_EQ(ex.image[1], 7.0f);  // float32 pixels are not scaled
  }
}

// Every error names the file it is about.
TEST(TensorFiles, ErrorsNameTheFile) {
  TempDir dir;
  const std::string root = dir.path(), st = root + "/train.safetensors";
  const std::string images = root + "/train/images.npy", labels = root + "/train/labels.npy",
                    masks = root + "/train/masks.npy";
  auto make_train_folder = [&] { dir.file("train/images.npy"); };
  auto fails = [&](const std::function<void()>& fn, const std::string& file,
                   const std::string& needle) {
    const std::string msg = error_text(fn);
    EXPECT_NE(msg.find(file), std::string::npos) << msg;
    EXPECT_NE(msg.find(needle), std::string::npos) << msg;
  };
  auto open = [&](int64_t num_classes = 0) {
    return [=] { TensorFiles(root, "train", num_classes); };
  };

  // No split at all: the paths looked for.
  fails(open(), root + "/train.safetensors", "no train split under " + root);
  fails([&] { TensorFiles(root, "val"); }, root + "/test/", "no val split");
  EXPECT_TRUE(throws_with([&] { TensorFiles(root, "training"); }, "'train', 'val' or 'test'"));

  // safetensors: missing tensors, named with what was found.
  save_st(st, {{"pixels", u8_images()}, {"labels", ints({0, 1, 2}, {3}, DType::Int64)}});
  fails(open(), st, "no 'images' tensor (found 'labels', 'pixels')");
  save_st(st, {{"images", u8_images()}});
  fails(open(), st,
        "needs a 'labels' (classification) or 'masks' (segmentation) tensor (found "
        "'images')");
  save_st(st, {{"images", u8_images()},
               {"labels", ints({0, 1, 2}, {3}, DType::Int64)},
               {"masks", zeros({3, 2, 3}, TensorOptions(DType::UInt8))}});
  fails(open(), st, "holds both 'labels' and 'masks'");
  // Unsupported dtypes.
  save_st(st, {{"images", u8_images().to(DType::Int32)},
               {"labels", ints({0, 1, 2}, {3}, DType::Int64)}});
  fails(open(), st, "images have dtype int32; expected uint8");
  save_st(st, {{"images", u8_images()}, {"labels", zeros({3})}});
  fails(open(), st, "labels have dtype float32; expected an integer dtype");
  save_st(st, {{"images", zeros({3, 4})}, {"labels", ints({0, 1, 2}, {3}, DType::Int64)}});
  fails(open(), st, "images have shape (3, 4); expected (N, C, H, W) or (N, H, W)");
  // Counts differ.
  save_st(st, {{"images", u8_images()}, {"labels", ints({0, 1}, {2}, DType::Int64)}});
  fails(open(), st, ": 'labels': 2 labels for the 3 images of " + st + ": 'images'");
  // Label out of range, checked at construction.
  save_st(st, {{"images", u8_images()}, {"labels", ints({0, 2, 1}, {3}, DType::Int64)}});
  fails(open(2), st, "label 2 of example 1 is outside [0, 2)");
  save_st(st, {{"images", u8_images()}, {"labels", ints({0, -1, 1}, {3}, DType::Int64)}});
  fails(open(), st, "label -1 of example 1 is negative");
  std::filesystem::remove(st);

  // .npy: missing files, named with what the folder holds.
  make_train_folder();
  io::save_npy(labels, ints({0, 1, 2}, {3}, DType::Int64));
  fails(open(), images, "does not exist (" + root + "/train/ holds labels.npy)");
  io::save_npy(images, u8_images());
  std::filesystem::remove(labels);
  fails(open(), root + "/train/",
        "needs labels.npy (classification) or masks.npy "
        "(segmentation) (found images.npy)");
  // Mask H, W differ from the images'.
  io::save_npy(masks, zeros({3, 3, 2}, TensorOptions(DType::UInt8)));
  fails(open(), masks, "masks have shape (3, 3, 2); expected (3, 2, 3)");
  io::save_npy(masks, zeros({2, 2, 3}, TensorOptions(DType::UInt8)));
  fails(open(), masks, "2 masks for the 3 images of " + images);
  // A mask value out of range: found at load, naming the file, example and pixel.
  io::save_npy(masks, ints({0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 5, 255}, {3, 2, 3},
                           DType::UInt8));
  TensorFiles ds(root, "train", 3);
  Example ex;
  ds.load(0, ex);
  ds.load(1, ex);
  fails([&] { ds.load(2, ex); }, masks,
        "example 2: mask value 5 at row 1, column 1 is outside [0, 3) and is not the "
        "ignore_index 255");
  // With num_classes from the data, a negative mask value is found at construction.
  io::save_npy(masks, ints({0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, -3, 255}, {3, 2, 3},
                           DType::Int8));
  fails(open(), masks, "example 2: mask value -3 at row 1, column 1 is negative");
  // A corrupt .npy file: the reader's error names it.
  std::filesystem::resize_file(images, 100);
  fails(open(), images, "invalid .npy file");
}
