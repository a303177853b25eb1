// JPEG through libjpeg-turbo with the settings PIL's decoder leaves at libjpeg's defaults
// (JDCT_ISLOW, fancy upsampling, block smoothing), so the pixels are PIL's bit for bit: PIL links
// the same libjpeg62-turbo. libjpeg reports errors by calling error_exit, which must not return;
// it longjmps back into decode_into, whose frame holds nothing with a destructor (a C++ object
// skipped by longjmp would be undefined behaviour). Warnings are ignored as PIL ignores them,
// except "premature end of data", which PIL reports as a truncated file.
// jpeglib.h uses size_t and FILE without including their headers, and jerror.h needs jpeglib.h.
#include <csetjmp>
#include <cstddef>
#include <cstdio>

#include <jpeglib.h>  // jpeg_decompress_struct, jpeg_read_header, jpeg_read_scanlines

#include <jerror.h>  // JWRN_JPEG_EOF

#include "framework/core/checked_math.h"
#include "framework/data/image_formats.h"
#include "kernels/common/error.h"

namespace tandem::data::detail {

namespace {

// A progressive JPEG may hold thousands of scans, each a pass over the whole image: a tiny
// hostile file could keep a loader busy for minutes. Real encoders write at most a few dozen.
constexpr int kMaxScans = 1000;

struct JpegContext {
  jpeg_decompress_struct cinfo{};
  jpeg_error_mgr err{};
  jpeg_progress_mgr progress{};
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX] = {};
  bool created = false;
};

JpegContext& context_of(j_common_ptr cinfo) {
  return *static_cast<JpegContext*>(cinfo->client_data);
}

[[noreturn]] void on_error(j_common_ptr cinfo) {
  JpegContext& ctx = context_of(cinfo);
  cinfo->err->format_message(cinfo, ctx.message);
  std::longjmp(ctx.jump, 1);
}

void on_message(j_common_ptr cinfo, int level) {
  if (level == -1 && cinfo->err->msg_code == JWRN_JPEG_EOF) on_error(cinfo);
}

void on_progress(j_common_ptr cinfo) {
  const auto* d = reinterpret_cast<j_decompress_ptr>(cinfo);
  if (d->input_scan_number > kMaxScans) {
    JpegContext& ctx = context_of(cinfo);
    std::snprintf(ctx.message, sizeof ctx.message, "more than %d progressive scans", kMaxScans);
    std::longjmp(ctx.jump, 1);
  }
}

// The libjpeg calls; false with ctx.message set on failure. Only trivially destructible locals:
// libjpeg's errors longjmp back to the setjmp below. `out` lives in the caller's frame.
bool decode_into(JpegContext& ctx, const uint8_t* data, size_t size, int64_t max_pixels,
                 StoredImage& out) {
  if (setjmp(ctx.jump)) return false;
  jpeg_create_decompress(&ctx.cinfo);
  ctx.created = true;
  ctx.cinfo.progress = &ctx.progress;
  jpeg_mem_src(&ctx.cinfo, data, static_cast<unsigned long>(size));
  jpeg_read_header(&ctx.cinfo, TRUE);
  const int components = ctx.cinfo.num_components;
  if (components == 1) {
    ctx.cinfo.out_color_space = JCS_GRAYSCALE;
    out.mode = StoredMode::L;
  } else if (components == 3) {
    ctx.cinfo.out_color_space = JCS_RGB;  // from YCbCr, or RGB as stored (Adobe transform 0)
    out.mode = StoredMode::RGB;
  } else {
    std::snprintf(ctx.message, sizeof ctx.message,
                  "%d-component JPEG (%s): only grayscale and colour (YCbCr/RGB) JPEGs are read",
                  components, components == 4 ? "CMYK/YCCK" : "unsupported");
    return false;
  }
  out.height = int64_t(ctx.cinfo.image_height);
  out.width = int64_t(ctx.cinfo.image_width);
  int64_t pixels = 0;
  if (!checked_mul(out.height, out.width, pixels) || pixels > max_pixels || pixels == 0) {
    std::snprintf(ctx.message, sizeof ctx.message, "%lld x %lld pixels (at most %lld allowed)",
                  static_cast<long long>(out.height), static_cast<long long>(out.width),
                  static_cast<long long>(max_pixels));
    return false;
  }
  jpeg_start_decompress(&ctx.cinfo);
  const size_t row_bytes = size_t(out.width) * size_t(components);
  out.samples.resize(size_t(pixels) * size_t(components));
  while (ctx.cinfo.output_scanline < ctx.cinfo.output_height) {
    JSAMPROW row = out.samples.data() + size_t(ctx.cinfo.output_scanline) * row_bytes;
    jpeg_read_scanlines(&ctx.cinfo, &row, 1);
  }
  // Reads up to the EOI marker: PIL calls it too, so a file cut anywhere is truncated.
  jpeg_finish_decompress(&ctx.cinfo);
  return true;
}

}  // namespace

StoredImage decode_jpeg(const uint8_t* data, size_t size, const std::string& name,
                        int64_t max_pixels) {
  JpegContext ctx;
  ctx.cinfo.err = jpeg_std_error(&ctx.err);
  ctx.err.error_exit = on_error;
  ctx.err.emit_message = on_message;
  ctx.cinfo.client_data = &ctx;
  ctx.progress.progress_monitor = on_progress;
  struct Destroy {
    JpegContext& ctx;
    ~Destroy() {
      if (ctx.created) jpeg_destroy_decompress(&ctx.cinfo);
    }
  } destroy{ctx};
  StoredImage out;
  if (!decode_into(ctx, data, size, max_pixels, out))
    throw Error("cannot decode JPEG image " + name + ": " + ctx.message,
                "the file is corrupt, truncated or of an unsupported kind: re-encode it, or set "
                "data.skip_bad_images: true to leave such files out");
  return out;
}

}  // namespace tandem::data::detail
