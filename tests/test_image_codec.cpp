// Image decoding against PIL (tests/fixtures/make_images.py): every JPEG and PNG of the fixture
// tree gives PIL's convert("RGB") and convert("L") pixels exactly, and single-channel PNGs their
// stored values (np.array(Image.open(p))); bad files are Errors naming the file; hostile sizes
// are refused before allocating; write_png round-trips; ToTensor's scaling.
#include <gtest/gtest.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "framework/data/image_codec.h"
#include "tests/error_text.h"
#include "tests/fixtures_dir.h"
#include "tests/golden_cases.h"
#include "tests/temp_dir.h"

using tandem::testing::TempDir;
using namespace tandem;
using namespace tandem::data;
using tandem::testing::error_text;
using tandem::testing::fixture_path;
using tandem::testing::throws_with;

namespace {

const nlohmann::json& golden() {
  static const nlohmann::json g = tandem::testing::load_fixture("images.json");
  return g;
}

std::string image_path(const std::string& rel) { return fixture_path("images/" + rel); }

ColorMode mode_of(const std::string& name) {
  return name == "rgb" ? ColorMode::RGB : name == "gray" ? ColorMode::Gray : ColorMode::Index;
}

std::string hex(const std::vector<uint8_t>& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (uint8_t b : bytes) {
    out += digits[b >> 4];
    out += digits[b & 15];
  }
  return out;
}

std::vector<uint8_t> file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

// The start of a PNG file: signature, an IHDR (with a valid CRC) of the given size, and the
// header of an IDAT chunk (where libpng stops reading the file's header).
std::vector<uint8_t> png_header(uint32_t width, uint32_t height) {
  std::vector<uint8_t> out = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13};
  const size_t type_at = out.size();
  for (char c : std::string("IHDR")) out.push_back(uint8_t(c));
  for (uint32_t v : {width, height})
    for (int s = 24; s >= 0; s -= 8) out.push_back(uint8_t(v >> s));
  for (uint8_t b : {8, 2, 0, 0, 0}) out.push_back(b);
  const uint32_t crc = uint32_t(crc32(0, out.data() + type_at, uInt(out.size() - type_at)));
  for (int s = 24; s >= 0; s -= 8) out.push_back(uint8_t(crc >> s));
  for (char c : std::string("\0\0\0\0IDAT", 8)) out.push_back(uint8_t(c));
  return out;
}

}  // namespace

TEST(ImageCodec, MatchesPilPixelForPixel) {
  ASSERT_TRUE(golden().is_object()) << "tests/fixtures/images.json is missing";
  const auto& cases = golden()["images"];
  ASSERT_GE(cases.size(), 60u);
  std::set<std::string> kinds;
  for (const auto& c : cases) {
    const std::string file = c["file"], mode = c["mode"];
    SCOPED_TRACE(file + " as " + mode);
    const Image img = read_image(image_path(file), mode_of(mode));
    EXPECT_EQ(img.height, c["height"].get<int64_t>());
    EXPECT_EQ(img.width, c["width"].get<int64_t>());
    EXPECT_EQ(img.channels, c["channels"].get<int64_t>());
    EXPECT_EQ(hex(img.pixels), c["pixels"].get<std::string>());
    kinds.insert(mode);
  }
  EXPECT_EQ(kinds.size(), 3u);
}

TEST(ImageCodec, DecodesFromMemoryWhateverTheName) {
  const std::vector<uint8_t> bytes = file_bytes(image_path("folder/lower/palette.png"));
  const Image a = decode_image(bytes.data(), bytes.size(), ColorMode::Index, "anything.jpg");
  const Image b = read_image(image_path("folder/lower/palette.png"), ColorMode::Index);
  EXPECT_EQ(a.pixels, b.pixels);
}

TEST(ImageCodec, BadFilesAreErrorsNamingThem) {
  const auto& bad = golden()["bad"];
  ASSERT_GE(bad.size(), 7u);
  for (const auto& b : bad) {
    const std::string path = image_path(b["file"].get<std::string>());
    SCOPED_TRACE(path);
    for (ColorMode mode : {ColorMode::RGB, ColorMode::Gray, ColorMode::Index})
      EXPECT_TRUE(throws_with([&] { read_image(path, mode); }, path));
  }
  auto why = [](const std::string& rel) {
    return error_text([&] { read_image(image_path(rel), ColorMode::RGB); });
  };
  EXPECT_NE(why("bad/truncated.png").find("truncated"), std::string::npos)
      << why("bad/truncated.png");
  // libjpeg's warning, which PIL turns into "image file is truncated".
  EXPECT_NE(why("bad/missing_eoi.jpg").find("Premature end of JPEG file"), std::string::npos);
  EXPECT_NE(why("folder/lower/truncated.jpg").find("Premature end"), std::string::npos);
  EXPECT_NE(why("bad/cmyk.jpg").find("CMYK"), std::string::npos) << why("bad/cmyk.jpg");
  EXPECT_NE(why("bad/image.bmp").find("a BMP image"), std::string::npos);
  EXPECT_NE(why("bad/text.png").find("not a JPEG or PNG"), std::string::npos);
  EXPECT_NE(why("bad/empty.jpg").find("empty"), std::string::npos);
  EXPECT_TRUE(throws_with([] { read_image("/nonexistent/x.png", ColorMode::RGB); },
                          "cannot open image /nonexistent/x.png"));
}

TEST(ImageCodec, MasksMustHaveOneChannel) {
  for (const char* rel : {"folder/Upper/rgb.png", "folder/Upper/rgba.png", "folder/lower/la.png",
                          "folder/lower/color420.jpg"}) {
    const std::string path = image_path(rel);
    EXPECT_TRUE(throws_with([&] { read_image(path, ColorMode::Index); }, "mask " + path + " is a"));
  }
  // 16-bit grayscale values past 255 do not fit an 8-bit mask; PIL's np.array keeps them.
  const std::string wide = image_path("folder/lower/gray16.png");
  EXPECT_TRUE(throws_with([&] { read_image(wide, ColorMode::Index); }, "does not fit 8 bits"));
}

TEST(ImageCodec, SizesAreBoundedBeforeAllocating) {
  // 100000 x 100000 declared by a 41-byte file: refused at the header.
  const std::vector<uint8_t> huge = png_header(100000, 100000);
  EXPECT_TRUE(
      throws_with([&] { decode_image(huge.data(), huge.size(), ColorMode::RGB, "huge.png"); },
                  "huge.png: 100000 x 100000 pixels (at most 268435456 allowed)"));
  const std::vector<uint8_t> jpeg = file_bytes(image_path("folder/lower/color420.jpg"));
  EXPECT_TRUE(throws_with(
      [&] { decode_image(jpeg.data(), jpeg.size(), ColorMode::RGB, "small.jpg", 1000); },
      "small.jpg: 29 x 37 pixels (at most 1000 allowed)"));
  // A header alone: the image data is missing.
  const std::vector<uint8_t> header = png_header(4, 4);
  EXPECT_TRUE(
      throws_with([&] { decode_image(header.data(), header.size(), ColorMode::RGB, "header.png"); },
                  "header.png"));
}

TEST(ImageCodec, EveryTruncationIsDataOrAnError) {
  for (const char* rel : {"folder/lower/color420.jpg", "folder/lower/progressive.jpg",
                          "folder/lower/interlaced_rgb.png", "folder/lower/palette.png"}) {
    const std::vector<uint8_t> bytes = file_bytes(image_path(rel));
    int errors = 0;
    for (size_t n = 0; n < bytes.size(); n += 7) {
      try {
        decode_image(bytes.data(), n, ColorMode::RGB, rel);
      } catch (const Error& e) {
        ++errors;
        EXPECT_NE(std::string(e.what()).find(rel), std::string::npos);
      }
    }
    EXPECT_GT(errors, 0) << rel;
  }
}

TEST(ImageCodec, WritePngRoundTrips) {
  const TempDir temp;  // removed even when an assertion fails
  const std::string& dir = temp.path();
  Image gray{5, 7, 1, {}};
  for (int i = 0; i < 35; ++i) gray.pixels.push_back(uint8_t(i * 7 % 256));
  write_png(dir + "/gray.png", gray);
  const Image g = read_image(dir + "/gray.png", ColorMode::Index);
  EXPECT_EQ(g.height, 5);
  EXPECT_EQ(g.width, 7);
  EXPECT_EQ(g.pixels, gray.pixels);
  Image rgb{3, 2, 3, {}};
  for (int i = 0; i < 18; ++i) rgb.pixels.push_back(uint8_t(200 - i * 9));
  write_png(dir + "/rgb.png", rgb);
  EXPECT_EQ(read_image(dir + "/rgb.png", ColorMode::RGB).pixels, rgb.pixels);
  write_png(dir + "/rgb.png", gray);  // replaced whole, no temporary left behind
  EXPECT_EQ(read_image(dir + "/rgb.png", ColorMode::Index).pixels, gray.pixels);
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir),
                          std::filesystem::directory_iterator()),
            2);
  Image two{1, 1, 2, {1, 2}};
  EXPECT_TRUE(throws_with([&] { write_png(dir + "/two.png", two); }, "2 channels"));
  Image short_pixels{2, 2, 1, {1, 2, 3}};
  EXPECT_TRUE(throws_with([&] { write_png(dir + "/short.png", short_pixels); }, "3 bytes"));
}

TEST(ImageCodec, ToTensorScalingAndMasks) {
  Image img{1, 2, 3, {0, 1, 2, 128, 254, 255}};
  Example ex;
  ex.label = 4;
  image_to_example(img, ex);
  EXPECT_EQ(ex.shape, (Shape{3, 1, 2}));
  // Planar: channel 0 is pixels 0 and 3 of the interleaved buffer; values are v / 255 in float.
  const std::vector<float> want = {0.0f / 255.0f,   128.0f / 255.0f, 1.0f / 255.0f,
                                   254.0f / 255.0f, 2.0f / 255.0f,   255.0f / 255.0f};
  EXPECT_EQ(ex.image, want);
  EXPECT_EQ(ex.label, 4);
  Image mask{2, 2, 1, {0, 1, 255, 2}};
  mask_to_example(mask, ex);
  EXPECT_EQ(ex.mask_height, 2);
  EXPECT_EQ(ex.mask_width, 2);
  EXPECT_EQ(ex.mask, (std::vector<int64_t>{0, 1, 255, 2}));
  EXPECT_TRUE(throws_with([&] { mask_to_example(img, ex); }, "one channel"));
}

TEST(ImageCodec, TorchvisionImageExtensions) {
  for (const char* yes : {"a.jpg", "a.JPG", "b.jpeg", "c.Png", "d.ppm", "e.bmp", "f.pgm", "g.tif",
                          "h.TIFF", "i.webp", "dir.png/x.png"})
    EXPECT_TRUE(has_image_extension(yes)) << yes;
  for (const char* no : {"a.gif", "notes.txt", "x.png.bak", "README", "png", "a.jpg ", ".jpgx"})
    EXPECT_FALSE(has_image_extension(no)) << no;
  EXPECT_TRUE(has_decodable_extension("X.JPEG"));
  EXPECT_FALSE(has_decodable_extension("x.webp"));
}
