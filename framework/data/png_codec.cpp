// PNG through libpng's sequential reader, without its colour transformations (no gamma, no tRNS
// to alpha, no 16-to-8 rounding): the samples come out as stored, and image_codec.cpp applies
// PIL's conversions. Only 16-bit colour is cut to its high byte here, which is PIL's unpacking
// (RGB;16B, RGBA;16B, LA;16B). libpng reports errors through a callback that must not return;
// it longjmps back into the function that called setjmp, whose frame holds nothing with a
// destructor (a C++ object skipped by longjmp would be undefined behaviour).
#include <png.h>  // png_create_read_struct, png_read_image, png_write_png

#include <algorithm>
#include <csetjmp>
#include <cstdio>
#include <cstring>

#include "framework/core/checked_math.h"
#include "framework/data/image_formats.h"
#include "kernels/common/error.h"

namespace tandem::data::detail {

namespace {

struct PngContext {
  png_structp png = nullptr;
  png_infop info = nullptr;
  bool writing = false;
  // The file being read, and how far.
  const uint8_t* data = nullptr;
  size_t size = 0, offset = 0;
  // The row pointers into the output (kept here, not in the setjmp frame), or the encoded file.
  std::vector<png_bytep> rows;
  std::string encoded;
  char message[256] = {};
  ~PngContext() {
    if (writing)
      png_destroy_write_struct(&png, &info);
    else
      png_destroy_read_struct(&png, &info, nullptr);
  }
};

PngContext& context_of(png_structp png) {
  return *static_cast<PngContext*>(png_get_error_ptr(png));
}

[[noreturn]] void on_error(png_structp png, png_const_charp message) {
  PngContext& ctx = context_of(png);
  if (!ctx.message[0]) std::snprintf(ctx.message, sizeof ctx.message, "%s", message);
  png_longjmp(png, 1);
}

void on_warning(png_structp, png_const_charp) {}  // bad ancillary chunks: skipped, as PIL does

void read_bytes(png_structp png, png_bytep out, size_t n) {
  PngContext& ctx = *static_cast<PngContext*>(png_get_io_ptr(png));
  if (n > ctx.size - ctx.offset) {
    std::snprintf(ctx.message, sizeof ctx.message, "truncated (the file ends at byte %zu)",
                  ctx.size);
    png_error(png, ctx.message);
  }
  std::memcpy(out, ctx.data + ctx.offset, n);
  ctx.offset += n;
}

// The libpng read calls; false with ctx.message set on failure. Only trivially destructible
// locals: libpng's errors longjmp back to the setjmp below.
bool read_into(PngContext& ctx, int64_t max_pixels, StoredImage& out) {
  if (setjmp(png_jmpbuf(ctx.png))) return false;
  png_set_read_fn(ctx.png, &ctx, read_bytes);
  png_read_info(ctx.png, ctx.info);
  const png_uint_32 width = png_get_image_width(ctx.png, ctx.info);
  const png_uint_32 height = png_get_image_height(ctx.png, ctx.info);
  const int bit_depth = png_get_bit_depth(ctx.png, ctx.info);
  const int color_type = png_get_color_type(ctx.png, ctx.info);
  out.height = int64_t(height);
  out.width = int64_t(width);
  int64_t pixels = 0;
  if (!checked_mul(out.height, out.width, pixels) || pixels > max_pixels) {
    std::snprintf(ctx.message, sizeof ctx.message, "%u x %u pixels (at most %lld allowed)", height,
                  width, static_cast<long long>(max_pixels));
    return false;
  }
  switch (color_type) {
    case PNG_COLOR_TYPE_GRAY:
      out.mode = bit_depth == 1    ? StoredMode::Bilevel
                 : bit_depth == 16 ? StoredMode::I16
                                   : StoredMode::L;
      break;
    case PNG_COLOR_TYPE_GRAY_ALPHA:
      out.mode = StoredMode::LA;
      break;
    case PNG_COLOR_TYPE_RGB:
      out.mode = StoredMode::RGB;
      break;
    case PNG_COLOR_TYPE_RGB_ALPHA:
      out.mode = StoredMode::RGBA;
      break;
    case PNG_COLOR_TYPE_PALETTE: {
      out.mode = StoredMode::P;
      png_colorp colors = nullptr;
      int count = 0;
      if (png_get_PLTE(ctx.png, ctx.info, &colors, &count) != PNG_INFO_PLTE) {
        std::snprintf(ctx.message, sizeof ctx.message, "palette image without a palette");
        return false;
      }
      out.palette.assign(256 * 3, 0);
      for (int i = 0; i < std::min(count, 256); ++i) {
        out.palette[size_t(3 * i)] = colors[i].red;
        out.palette[size_t(3 * i + 1)] = colors[i].green;
        out.palette[size_t(3 * i + 2)] = colors[i].blue;
      }
      break;
    }
    default:
      std::snprintf(ctx.message, sizeof ctx.message, "unknown colour type %d", color_type);
      return false;
  }
  if (bit_depth < 8) png_set_packing(ctx.png);  // one sample per byte, values as stored
  if (bit_depth == 16 && out.mode != StoredMode::I16) png_set_strip_16(ctx.png);  // high byte
  png_set_interlace_handling(ctx.png);
  png_read_update_info(ctx.png, ctx.info);
  const size_t row_bytes = png_get_rowbytes(ctx.png, ctx.info);
  const size_t expected =
      size_t(width) * size_t(stored_channels(out.mode)) * (out.mode == StoredMode::I16 ? 2 : 1);
  if (row_bytes != expected) {
    std::snprintf(ctx.message, sizeof ctx.message, "unexpected row size %zu", row_bytes);
    return false;
  }
  out.samples.resize(row_bytes * height);
  ctx.rows.resize(height);
  for (png_uint_32 y = 0; y < height; ++y) ctx.rows[y] = out.samples.data() + size_t(y) * row_bytes;
  // Without png_read_end: PIL stops once it has the pixels, whatever follows the image data.
  png_read_image(ctx.png, ctx.rows.data());
  // 1, 2 and 4-bit grayscale spans [0, 255] as in PIL (modes 1 and L;2, L;4): x 255, 85, 17.
  if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) {
    const int scale = 255 / ((1 << bit_depth) - 1);
    for (uint8_t& s : out.samples) s = uint8_t(s * scale);
  }
  return true;
}

void write_bytes(png_structp png, png_bytep data, size_t n) {
  bool appended = true;
  try {  // no exception may unwind through libpng's C frames
    static_cast<PngContext*>(png_get_io_ptr(png))->encoded.append(reinterpret_cast<char*>(data), n);
  } catch (const std::bad_alloc&) {
    appended = false;
  }
  if (!appended) png_error(png, "out of memory");
}

void flush(png_structp) {}

bool write_into(PngContext& ctx, const Image& image) {
  if (setjmp(png_jmpbuf(ctx.png))) return false;
  png_set_write_fn(ctx.png, &ctx, write_bytes, flush);
  png_set_IHDR(ctx.png, ctx.info, png_uint_32(image.width), png_uint_32(image.height), 8,
               image.channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_set_rows(ctx.png, ctx.info, ctx.rows.data());
  png_write_png(ctx.png, ctx.info, PNG_TRANSFORM_IDENTITY, nullptr);
  return true;
}

}  // namespace

int stored_channels(StoredMode mode) {
  switch (mode) {
    case StoredMode::LA:
      return 2;
    case StoredMode::RGB:
      return 3;
    case StoredMode::RGBA:
      return 4;
    default:
      return 1;
  }
}

StoredImage decode_png(const uint8_t* data, size_t size, const std::string& name,
                       int64_t max_pixels) {
  PngContext ctx;
  ctx.data = data;
  ctx.size = size;
  ctx.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &ctx, on_error, on_warning);
  if (ctx.png) ctx.info = png_create_info_struct(ctx.png);
  if (!ctx.png || !ctx.info) throw Error("cannot decode PNG image " + name + ": out of memory");
  StoredImage out;
  if (!read_into(ctx, max_pixels, out))
    throw Error("cannot decode PNG image " + name + ": " + ctx.message,
                "the file is corrupt or truncated: re-encode it, or set "
                "data.skip_bad_images: true to leave such files out");
  return out;
}

std::string encode_png(const Image& image, const std::string& name) {
  TANDEM_CHECK(image.channels == 1 || image.channels == 3, "cannot write ", name, ": a PNG of ",
               image.channels, " channels (1 or 3 are written)");
  TANDEM_CHECK(
      image.height > 0 && image.width > 0 && image.height <= INT32_MAX && image.width <= INT32_MAX,
      "cannot write ", name, ": an image of ", image.height, " x ", image.width, " pixels");
  const size_t row_bytes = size_t(image.width) * size_t(image.channels);
  TANDEM_CHECK(image.pixels.size() == row_bytes * size_t(image.height), "cannot write ", name, ": ",
               image.pixels.size(), " bytes of pixels for ", image.height, " x ", image.width,
               " x ", image.channels);
  PngContext ctx;
  ctx.writing = true;
  ctx.png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &ctx, on_error, on_warning);
  if (ctx.png) ctx.info = png_create_info_struct(ctx.png);
  if (!ctx.png || !ctx.info) throw Error("cannot write PNG image " + name + ": out of memory");
  ctx.rows.resize(size_t(image.height));
  // libpng's row pointers are not const, but writing only reads them.
  auto* pixels = const_cast<uint8_t*>(image.pixels.data());
  for (size_t y = 0; y < ctx.rows.size(); ++y) ctx.rows[y] = pixels + y * row_bytes;
  if (!write_into(ctx, image)) throw Error("cannot write PNG image " + name + ": " + ctx.message);
  return std::move(ctx.encoded);
}

}  // namespace tandem::data::detail
