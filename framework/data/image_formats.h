// The file-format layer under image_codec.h: JPEG and PNG decoded to what the file stores, in
// PIL's terms (its mode and raw samples), before image_codec.cpp converts that to a ColorMode the
// way PIL's convert() does. Internal to framework/data.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "framework/data/image_codec.h"  // Image

namespace tandem::data::detail {

// PIL's mode for the decoded file: 1 (Bilevel: samples 0 or 255), L, I (I16: 16-bit grayscale),
// LA, RGB, RGBA, P.
enum class StoredMode { Bilevel, L, I16, LA, RGB, RGBA, P };

struct StoredImage {
  int64_t height = 0, width = 0;
  StoredMode mode = StoredMode::L;
  // Interleaved samples, one byte each except I16's two (big-endian, as PNG stores them).
  std::vector<uint8_t> samples;
  // P only: 256 RGB triples, black past the entries the file has (PIL's palette does the same).
  std::vector<uint8_t> palette;
};

// Samples per pixel of a stored mode (I16 counts one).
int stored_channels(StoredMode mode);

// Each decodes a whole file held in memory; errors are tandem::Error naming `name`. Height x
// width above max_pixels is refused before the pixels are allocated.
StoredImage decode_jpeg(const uint8_t* data, size_t size, const std::string& name,
                        int64_t max_pixels);
StoredImage decode_png(const uint8_t* data, size_t size, const std::string& name,
                       int64_t max_pixels);
// An 8-bit grayscale (1 channel) or RGB (3 channels) PNG file's bytes; `name` names it in errors.
std::string encode_png(const Image& image, const std::string& name);

}  // namespace tandem::data::detail
