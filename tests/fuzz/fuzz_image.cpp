// libFuzzer target: JPEG and PNG through decode_image in each colour mode. libjpeg's and
// libpng's errors come back as Errors (never exit() or a crash), and the declared size is
// checked before the pixels are allocated; the bound is lowered here so that a header declaring
// a large image is refused instead of decoded slowly.
#include <cstddef>
#include <cstdint>

#include "framework/data/image_codec.h"
#include "kernels/common/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using tandem::data::ColorMode;
  for (ColorMode mode : {ColorMode::RGB, ColorMode::Gray, ColorMode::Index}) {
    try {
      const tandem::data::Image img =
          tandem::data::decode_image(data, size, mode, "fuzz", int64_t(1) << 20);
      if (img.pixels.size() != size_t(img.height * img.width * img.channels)) __builtin_trap();
    } catch (const tandem::Error&) {
    }
  }
  return 0;
}
