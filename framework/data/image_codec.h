// Image files for the image datasets: JPEG (libjpeg-turbo) and PNG (libpng) decoded to 8-bit
// pixels with exactly the values PIL gives, so a model sees what torchvision's loaders feed it:
//   ColorMode::RGB   Image.open(p).convert("RGB")
//   ColorMode::Gray  Image.open(p).convert("L")      (L = (R*19595 + G*38470 + B*7471 + 0x8000) >>
//   16) ColorMode::Index np.array(Image.open(mask))      (palette indices of a P PNG, the values of
//   an
//                                                     L PNG: what a segmentation mask stores)
// PIL's conversions are followed in every corner: alpha is dropped, a palette expands through
// its colours (indices past the palette are black), 16-bit colour keeps the high byte, 16-bit
// grayscale (PIL's mode I) clips to [0, 255], 1/2/4-bit grayscale scales to [0, 255], tRNS and
// gAMA are ignored, and JPEG decodes with libjpeg's default IDCT and fancy upsampling (PIL's).
// A truncated or corrupt file is an Error naming it (PIL without LOAD_TRUNCATED_IMAGES fails
// too); the dimensions are bounded before anything is allocated.
//
//   Image img = read_image("train/cat/1.jpg", ColorMode::RGB);   // img.pixels: H x W x 3
//   image_to_example(img, example);                              // (3, H, W) floats in [0, 1]
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "framework/data/example.h"

namespace tandem::data {

enum class ColorMode { RGB, Gray, Index };

// "rgb", "gray", "index": for messages.
const char* color_mode_name(ColorMode mode);

// 8-bit pixels, (height, width, channels) interleaved; channels is 3 for RGB, 1 otherwise.
struct Image {
  int64_t height = 0, width = 0, channels = 0;
  std::vector<uint8_t> pixels;
};

// The most pixels a decoded image may have (16384 x 16384); a file declaring more is refused
// before its pixels are allocated.
inline constexpr int64_t kMaxImagePixels = int64_t(1) << 28;

// Decodes a JPEG or PNG held in memory (recognised by its signature, whatever `name` is called).
// `name` (the file's path) names the image in errors. max_pixels bounds height * width.
Image decode_image(const uint8_t* data, size_t size, ColorMode mode, const std::string& name,
                   int64_t max_pixels = kMaxImagePixels);
// Reads and decodes the file at `path`.
Image read_image(const std::string& path, ColorMode mode);

// Writes a grayscale (1 channel) or RGB (3 channels) 8-bit PNG, atomically (the file is either
// the old one or the complete new one). read_image(path, ColorMode::Index) of a 1-channel image
// gives back its pixels, so masks can be written this way.
void write_png(const std::string& path, const Image& image);

// ToTensor: out.shape = (C, H, W), out.image = pixel / 255 (planar). Leaves the label and mask.
void image_to_example(const Image& image, Example& out);
// A 1-channel image's values as the per-pixel class mask of `out` (mask_height, mask_width).
void mask_to_example(const Image& mask, Example& out);

// Whether `filename` ends (case-insensitively) in one of torchvision's IMG_EXTENSIONS: .jpg
// .jpeg .png .ppm .bmp .pgm .tif .tiff .webp (the files ImageFolder lists).
bool has_image_extension(const std::string& filename);
// Whether it ends in an extension of a format decode_image reads: .jpg .jpeg .png.
bool has_decodable_extension(const std::string& filename);

}  // namespace tandem::data
