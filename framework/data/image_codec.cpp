// Format detection, PIL's mode conversions (Convert.c of Pillow 9.4: rgb2l, la2rgb, p2rgb, p2l,
// i2l, i2rgb, ...), file reading and writing, and ToTensor.
#include "framework/data/image_codec.h"

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "framework/data/image_formats.h"
#include "framework/io/atomic_write.h"
#include "kernels/common/error.h"

namespace tandem::data {

using detail::StoredImage;
using detail::StoredMode;

namespace {

bool starts_with(const uint8_t* data, size_t size, const char* magic, size_t n) {
  return size >= n && std::memcmp(data, magic, n) == 0;
}

// Formats PIL would open but tandem does not decode, so the error can say what the file is.
const char* other_format(const uint8_t* data, size_t size) {
  if (starts_with(data, size, "BM", 2)) return "BMP";
  if (starts_with(data, size, "GIF8", 4)) return "GIF";
  if (starts_with(data, size, "II*\0", 4) || starts_with(data, size, "MM\0*", 4)) return "TIFF";
  if (size >= 12 && starts_with(data, size, "RIFF", 4) && std::memcmp(data + 8, "WEBP", 4) == 0)
    return "WebP";
  if (size >= 2 && data[0] == 'P' && data[1] >= '1' && data[1] <= '6') return "PPM/PGM";
  return nullptr;
}

// PIL's L from RGB (ITU-R 601-2 luma in 16-bit fixed point, rounded).
inline uint8_t luma(uint8_t r, uint8_t g, uint8_t b) {
  return uint8_t((uint32_t(r) * 19595 + uint32_t(g) * 38470 + uint32_t(b) * 7471 + 0x8000) >> 16);
}

inline uint8_t clip_i16(const uint8_t* s) {  // PIL's i2l: mode I clipped to [0, 255]
  const unsigned v = unsigned(s[0]) << 8 | s[1];
  return uint8_t(v > 255 ? 255 : v);
}

std::string mode_name(StoredMode mode) {
  switch (mode) {
    case StoredMode::Bilevel:
      return "1-bit grayscale";
    case StoredMode::L:
      return "grayscale";
    case StoredMode::I16:
      return "16-bit grayscale";
    case StoredMode::LA:
      return "grayscale with alpha";
    case StoredMode::RGB:
      return "RGB";
    case StoredMode::RGBA:
      return "RGBA";
    case StoredMode::P:
      return "palette";
  }
  return "?";
}

// PIL's convert("RGB") / convert("L") of the stored mode, or the stored values for Index.
Image convert(const StoredImage& in, ColorMode mode, const std::string& name) {
  Image out;
  out.height = in.height;
  out.width = in.width;
  out.channels = mode == ColorMode::RGB ? 3 : 1;
  const size_t n = size_t(in.height) * size_t(in.width);
  out.pixels.resize(n * size_t(out.channels));
  const uint8_t* s = in.samples.data();
  uint8_t* d = out.pixels.data();
  const int sc = detail::stored_channels(in.mode);
  if (mode == ColorMode::Index) {
    switch (in.mode) {
      case StoredMode::Bilevel:  // numpy gives mode 1 as booleans
        for (size_t i = 0; i < n; ++i) d[i] = s[i] ? 1 : 0;
        return out;
      case StoredMode::L:
      case StoredMode::P:
        std::memcpy(d, s, n);
        return out;
      case StoredMode::I16:
        for (size_t i = 0; i < n; ++i) {
          const unsigned v = unsigned(s[2 * i]) << 8 | s[2 * i + 1];
          TANDEM_CHECK(v <= 255, "mask ", name, ": value ", v, " at pixel (", i / size_t(in.width),
                       ", ", i % size_t(in.width), ") does not fit 8 bits");
          d[i] = uint8_t(v);
        }
        return out;
      default:
        throw Error("mask " + name + " is a " + mode_name(in.mode) +
                        " image: a mask must hold one class index per pixel",
                    "save masks as palette (P) or grayscale (L) PNGs whose values are the class "
                    "indices, e.g. Image.fromarray(classes.astype(np.uint8)).save(path)");
    }
  }
  const bool rgb = mode == ColorMode::RGB;
  for (size_t i = 0; i < n; ++i) {
    uint8_t r, g, b;
    switch (in.mode) {
      case StoredMode::Bilevel:
      case StoredMode::L:
      case StoredMode::LA:
        r = g = b = s[i * size_t(sc)];
        break;
      case StoredMode::I16:
        r = g = b = clip_i16(s + 2 * i);
        break;
      case StoredMode::RGB:
      case StoredMode::RGBA: {
        const uint8_t* p = s + i * size_t(sc);
        r = p[0], g = p[1], b = p[2];
        break;
      }
      case StoredMode::P: {
        const uint8_t* p = in.palette.data() + 3 * size_t(s[i]);
        r = p[0], g = p[1], b = p[2];
        break;
      }
      default:
        r = g = b = 0;
    }
    if (rgb) {
      d[3 * i] = r, d[3 * i + 1] = g, d[3 * i + 2] = b;
    } else {
      const bool gray = in.mode == StoredMode::Bilevel || in.mode == StoredMode::L ||
                        in.mode == StoredMode::LA || in.mode == StoredMode::I16;
      d[i] = gray ? r : luma(r, g, b);
    }
  }
  return out;
}

bool ends_with_any(const std::string& filename, std::initializer_list<const char*> extensions) {
  std::string lower = filename;
  for (char& c : lower)
    if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
  for (const char* ext : extensions) {
    const size_t n = std::strlen(ext);
    if (lower.size() >= n && lower.compare(lower.size() - n, n, ext) == 0) return true;
  }
  return false;
}

}  // namespace

const char* color_mode_name(ColorMode mode) {
  switch (mode) {
    case ColorMode::RGB:
      return "rgb";
    case ColorMode::Gray:
      return "gray";
    case ColorMode::Index:
      return "index";
  }
  return "?";
}

Image decode_image(const uint8_t* data, size_t size, ColorMode mode, const std::string& name,
                   int64_t max_pixels) {
  StoredImage stored;
  if (starts_with(data, size, "\xff\xd8\xff", 3)) {
    stored = detail::decode_jpeg(data, size, name, max_pixels);
  } else if (starts_with(data, size, "\x89PNG\r\n\x1a\n", 8)) {
    stored = detail::decode_png(data, size, name, max_pixels);
  } else if (const char* format = other_format(data, size)) {
    throw Error("cannot decode " + name + ": a " + format + " image (tandem reads JPEG and PNG)",
                "convert it to PNG, e.g. with PIL: Image.open(src).save(dst_png)");
  } else {
    throw Error("cannot decode " + name + ": not a JPEG or PNG image" +
                    (size == 0 ? std::string(" (the file is empty)") : std::string()),
                "remove the file, or set data.skip_bad_images: true to leave such files out");
  }
  return convert(stored, mode, name);
}

Image read_image(const std::string& path, ColorMode mode) {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), std::fclose);
  if (!f) throw Error("cannot open image " + path + ": " + std::strerror(errno));
  std::vector<uint8_t> bytes;
  uint8_t chunk[1 << 16];
  size_t got;
  while ((got = std::fread(chunk, 1, sizeof chunk, f.get())) > 0)
    bytes.insert(bytes.end(), chunk, chunk + got);
  if (std::ferror(f.get())) throw Error("cannot read image " + path + ": " + std::strerror(errno));
  return decode_image(bytes.data(), bytes.size(), mode, path);
}

void write_png(const std::string& path, const Image& image) {
  io::atomic_write_file(path, detail::encode_png(image, path));
}

void image_to_example(const Image& image, Example& out) {
  // ToTensor divides (img.float().div(255)); a table of the 256 quotients gives the same floats.
  static const std::array<float, 256> scaled = [] {
    std::array<float, 256> t{};
    for (int v = 0; v < 256; ++v) t[size_t(v)] = float(v) / 255.0f;
    return t;
  }();
  const size_t c = size_t(image.channels), hw = size_t(image.height) * size_t(image.width);
  out.shape = {image.channels, image.height, image.width};
  out.image.resize(c * hw);
  for (size_t ch = 0; ch < c; ++ch) {
    float* plane = out.image.data() + ch * hw;
    const uint8_t* src = image.pixels.data() + ch;
    for (size_t i = 0; i < hw; ++i) plane[i] = scaled[src[i * c]];
  }
}

void mask_to_example(const Image& mask, Example& out) {
  TANDEM_CHECK(mask.channels == 1, "a mask has one channel, not ", mask.channels);
  out.mask_height = mask.height;
  out.mask_width = mask.width;
  out.mask.assign(mask.pixels.begin(), mask.pixels.end());
}

bool has_image_extension(const std::string& filename) {
  return ends_with_any(filename,
                       {".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp"});
}

bool has_decodable_extension(const std::string& filename) {
  return ends_with_any(filename, {".jpg", ".jpeg", ".png"});
}

}  // namespace tandem::data
