// torchvision's transforms (tests/fixtures/transforms/transforms.json from
// tests/fixtures/make_transforms.py: torch 1.13, torchvision 0.14.1, PIL 9.4): resize in every
// mode within 1e-5 (nearest exactly), masks with PIL's NEAREST exactly, centercrop with its
// padding and rounding, torch's draws bit for bit on tandem's Generator, so that
// randomresizedcrop / randomcrop / randomhorizontalflip pick torchvision's crops and flips for
// the same seed; normalize; and the config parser's errors.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "framework/data/resample.h"
#include "framework/data/torch_draws.h"
#include "framework/data/transforms.h"
#include "framework/io/value_json.h"
#include "tests/error_text.h"
#include "tests/fixtures_dir.h"

using namespace tandem;
using namespace tandem::data;
using nlohmann::json;
using tandem::testing::error_text;

namespace {

const json& fixture() {
  static const json f = [] {
    std::ifstream in(tandem::testing::fixture_path("transforms/transforms.json"));
    return in.good() ? json::parse(in) : json();
  }();
  return f;
}

Example input(const std::string& name) {
  const json& in = fixture()["inputs"][name];
  Example ex;
  for (const auto& d : in["shape"]) ex.shape.push_back(d.get<int64_t>());
  ex.image = in["data"].get<std::vector<float>>();
  return ex;
}

Example mask_example() {
  const json& m = fixture()["mask"];
  Example ex;
  ex.mask_height = m["shape"][0], ex.mask_width = m["shape"][1];
  ex.shape = {1, ex.mask_height, ex.mask_width};
  ex.image.assign(size_t(ex.mask_height * ex.mask_width), 0.5f);
  ex.mask = m["data"].get<std::vector<int64_t>>();
  return ex;
}

Interpolation mode(const std::string& s) {
  if (s == "nearest") return Interpolation::nearest;
  if (s == "bicubic") return Interpolation::bicubic;
  return Interpolation::bilinear;
}

std::vector<int64_t> shape_of(const json& j) { return j.get<std::vector<int64_t>>(); }

// Within 1e-5 of torchvision (exactly when `exact`), with the first differing index.
void expect_image(const Example& ex, const json& c, bool exact = false) {
  ASSERT_EQ(std::vector<int64_t>(ex.shape.begin(), ex.shape.end()), shape_of(c["shape"]));
  const auto want = c["output"].get<std::vector<float>>();
  ASSERT_EQ(ex.image.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    // The fixture keeps 7 significant digits, so "exact" allows that rounding.
    const float tol = exact ? 1e-6f * std::max(1.0f, std::fabs(want[i])) : 1e-5f;
    ASSERT_NEAR(ex.image[i], want[i], tol) << "at " << i;
  }
}

Value config(const std::string& text) { return io::value_from_json(text, {}, "test"); }

std::string parse_error(const std::string& text) {
  return error_text([&] { parse_transforms(config(text), "data.train_transforms"); });
}

}  // namespace

TEST(TransformsFixture, HasCases) {
  ASSERT_TRUE(fixture().is_object()) << "tests/fixtures/transforms/transforms.json is missing";
  EXPECT_GE(fixture()["resize"].size(), 26u);
  EXPECT_GE(fixture()["rrc_params"].size(), 7u);
}

TEST(Resize, MatchesTorchvisionInEveryMode) {
  int n = 0;
  for (const json& c : fixture()["resize"]) {
    SCOPED_TRACE(c["name"].get<std::string>());
    ResizeOptions o;
    o.size = c["size"].get<std::vector<int64_t>>();
    o.interpolation = mode(c["interpolation"]);
    o.antialias = c["antialias"];
    o.max_size = c["max_size"];
    Example ex = input(c["input"]);
    Generator gen(0);
    resize(o)->apply(ex, gen);
    expect_image(ex, c, o.interpolation == Interpolation::nearest);
    ++n;
  }
  EXPECT_EQ(n, 26);
}

TEST(Resize, SmallerEdgeSizesAsTorchvision) {
  for (const json& c : fixture()["resized_sizes"]) {
    const auto [h, w] = resized_size(c["h"], c["w"], {c["size"].get<int64_t>()}, c["max_size"]);
    EXPECT_EQ((std::vector<int64_t>{h, w}), shape_of(c["out"])) << c.dump();
  }
}

TEST(Resize, MasksUsePilNearest) {
  for (const json& c : fixture()["mask"]["resized"]) {
    Example ex = mask_example();
    ResizeOptions o;
    o.size = c["size"].get<std::vector<int64_t>>();
    Generator gen(0);
    resize(o)->apply(ex, gen);  // the image bilinear, the mask nearest
    EXPECT_EQ((std::vector<int64_t>{ex.mask_height, ex.mask_width}), o.size);
    EXPECT_EQ(ex.mask, c["output"].get<std::vector<int64_t>>()) << c["size"].dump();
    EXPECT_EQ(ex.shape, (Shape{1, o.size[0], o.size[1]}));
  }
}

TEST(Resize, SameSizeIsUntouchedAndShapesAreChecked) {
  Example ex = input("a");
  const std::vector<float> before = ex.image;
  Generator gen(0);
  resize({{13, 17}})->apply(ex, gen);
  EXPECT_EQ(ex.image, before);
  Example flat;
  flat.shape = {12};
  flat.image.assign(12, 0.f);
  EXPECT_EQ(error_text([&] { resize({{4}})->apply(flat, gen); }),
            "resize needs a (C, H, W) image, got [12]");
  Example empty;
  empty.shape = {3, 0, 5};
  EXPECT_EQ(error_text([&] { resize({{4}})->apply(empty, gen); }),
            "resize: cannot resize an empty 0x5 image");
  Example bad = mask_example();
  bad.mask_width -= 1;
  EXPECT_NE(error_text([&] { resize({{4}})->apply(bad, gen); }).find("the mask is 9x12"),
            std::string::npos);
  EXPECT_NE(error_text([] {
              resize({{4}, 4});
            }).find("max_size = 4 must be strictly greater"),
            std::string::npos);
}

TEST(Resize, ConcurrentCallsShareTheCachedWeights) {
  auto t = resize({{7, 9}});
  Example ref = input("a");
  Generator g0(0);
  t->apply(ref, g0);
  std::vector<std::thread> threads;
  std::vector<int> same(4, 0);
  for (int k = 0; k < 4; ++k)
    threads.emplace_back([&, k] {
      Generator gen(0);
      for (int r = 0; r < 50; ++r) {
        Example ex = input("a");
        t->apply(ex, gen);
        same[size_t(k)] += ex.image == ref.image;
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(same, std::vector<int>(4, 50));
}

TEST(CenterCrop, MatchesTorchvisionWithPaddingAndRounding) {
  int n = 0;
  for (const json& c : fixture()["centercrop"]) {
    SCOPED_TRACE(c.dump().substr(0, 60));
    const auto size = c["size"].get<std::vector<int64_t>>();
    Generator gen(0);
    if (c["input"] == "mask") {
      Example ex = mask_example();
      center_crop(size[0], size[1])->apply(ex, gen);
      EXPECT_EQ(ex.mask, c["mask"].get<std::vector<int64_t>>());
      EXPECT_EQ(ex.mask_height, size[0]);
    } else {
      Example ex = input(c["input"]);
      center_crop(size[0], size[1])->apply(ex, gen);
      expect_image(ex, c, true);
    }
    ++n;
  }
  EXPECT_EQ(n, 10);
}

TEST(TorchDraws, ReproduceTorchsGeneratorDrawForDraw) {
  for (const json& s : fixture()["draws"]) {
    Generator gen(s["seed"].get<uint64_t>());
    for (const json& d : s["draws"]) {
      const std::string kind = d[0];
      if (kind == "uniform")
        EXPECT_EQ(torch_uniform(gen, d[1], d[2]), d[3].get<float>()) << d.dump();
      else if (kind == "exp")
        EXPECT_EQ(torch_expf(d[1].get<float>()), d[2].get<float>()) << d.dump();
      else if (kind == "randint")
        EXPECT_EQ(torch_randint(gen, d[1], d[2]), d[3].get<int64_t>()) << d.dump();
      else
        EXPECT_EQ(torch_rand(gen), d[1].get<float>()) << d.dump();
    }
  }
}

TEST(RandomResizedCrop, GetParamsPicksTorchvisionsBoxesForTheSameSeed) {
  int boxes = 0;
  for (const json& c : fixture()["rrc_params"]) {
    const std::array<double, 2> scale{c["scale"][0], c["scale"][1]},
        ratio{c["ratio"][0], c["ratio"][1]};
    for (size_t seed = 0; seed < c["boxes"].size(); ++seed) {
      Generator gen(seed);
      for (const json& want : c["boxes"][seed]) {
        const CropBox b = random_resized_crop_params(c["h"], c["w"], scale, ratio, gen);
        EXPECT_EQ((std::vector<int64_t>{b.top, b.left, b.height, b.width}), shape_of(want))
            << c["h"] << "x" << c["w"] << " seed " << seed;
        ++boxes;
      }
    }
  }
  EXPECT_EQ(boxes, 7 * 40 * 3);
}

TEST(RandomResizedCrop, OutputsMatchTorchvision) {
  for (const json& c : fixture()["randomresizedcrop"]) {
    RandomResizedCropOptions o;
    o.height = c["size"][0], o.width = c["size"][1];
    o.interpolation = mode(c["interpolation"]);
    o.antialias = c["antialias"];
    Example ex = input("a");
    Generator gen(c["seed"].get<uint64_t>());
    random_resized_crop(o)->apply(ex, gen);
    expect_image(ex, c, o.interpolation == Interpolation::nearest);
  }
}

TEST(RandomResizedCrop, MovesTheMaskWithTheImage) {
  RandomResizedCropOptions o;
  o.height = 6, o.width = 7;
  for (uint64_t seed = 0; seed < 10; ++seed) {
    Example ex = mask_example();
    const std::vector<int64_t> mask = ex.mask;
    Generator gen(seed), same(seed);
    random_resized_crop(o)->apply(ex, gen);
    const CropBox b = random_resized_crop_params(9, 13, o.scale, o.ratio, same);
    std::vector<int64_t> want;
    Resampler::resize_mask(mask.data(), 13, b.top, b.left, b.height, b.width, 6, 7, want);
    EXPECT_EQ(ex.mask, want);
    EXPECT_EQ(ex.mask_height, 6);
    EXPECT_EQ(ex.mask_width, 7);
  }
}

TEST(RandomCrop, ThenFlipMatchesTorchvisionForTheSameSeed) {
  int n = 0;
  for (const json& c : fixture()["randomcrop_flip"]) {
    RandomCropOptions o;
    o.height = c["size"][0], o.width = c["size"][1];
    o.padding = c["padding"].get<std::vector<int64_t>>();
    o.pad_if_needed = c["pad_if_needed"];
    o.fill = c["fill"];
    TransformPipeline p;
    p.add(random_crop(o));
    p.add(random_horizontal_flip());
    Example ex = input("c");
    Generator gen(c["seed"].get<uint64_t>());
    p.apply(ex, gen);
    SCOPED_TRACE(p.describe() + " seed " + c["seed"].dump());
    expect_image(ex, c, true);
    ++n;
  }
  EXPECT_EQ(n, 15);
}

TEST(RandomCrop, PaddingModesMatchTorchvision) {
  int n = 0;
  for (const json& c : fixture()["randomcrop_padding_mode"]) {
    RandomCropOptions o;
    o.height = c["size"][0], o.width = c["size"][1];
    o.padding = c["padding"].get<std::vector<int64_t>>();
    o.pad_if_needed = c["pad_if_needed"];
    const std::string mode = c["padding_mode"];
    o.padding_mode = mode == "edge"        ? PaddingMode::Edge
                     : mode == "reflect"   ? PaddingMode::Reflect
                     : mode == "symmetric" ? PaddingMode::Symmetric
                                           : PaddingMode::Constant;
    auto crop = random_crop(o);
    Example ex = input("c");
    Generator gen(c["seed"].get<uint64_t>());
    crop->apply(ex, gen);
    SCOPED_TRACE(crop->describe() + " seed " + c["seed"].dump());
    expect_image(ex, c, true);
    ++n;
  }
  EXPECT_EQ(n, 12);
}

TEST(RandomCrop, PaddingModesMoveTheMaskWithTheImage) {
  // A 1-row mask [0 1 2 3] padded by 2 columns each side, crop the whole padded row.
  auto row = [](PaddingMode mode) {
    Example ex;
    ex.shape = {1, 1, 4};
    ex.image = {0, 1, 2, 3};
    ex.mask = {0, 1, 2, 3};
    ex.mask_height = 1, ex.mask_width = 4;
    RandomCropOptions o;
    o.height = 1, o.width = 8;
    o.padding = {2, 0};
    o.fill = 9;
    o.padding_mode = mode;
    Generator gen(0);
    random_crop(o, TransformOptions{.mask_fill = 7})->apply(ex, gen);
    EXPECT_EQ(std::vector<float>(ex.mask.begin(), ex.mask.end()), ex.image);
    return ex.image;
  };
  EXPECT_EQ(row(PaddingMode::Edge), (std::vector<float>{0, 0, 0, 1, 2, 3, 3, 3}));
  EXPECT_EQ(row(PaddingMode::Reflect), (std::vector<float>{2, 1, 0, 1, 2, 3, 2, 1}));
  EXPECT_EQ(row(PaddingMode::Symmetric), (std::vector<float>{1, 0, 0, 1, 2, 3, 3, 2}));
  // Reflect mirrors once, as torch's pad: 4 columns reach past a mirror of 4.
  Example ex;
  ex.shape = {1, 1, 4};
  ex.image = {0, 1, 2, 3};
  RandomCropOptions o;
  o.height = 1, o.width = 4;
  o.padding = {4, 0};
  o.padding_mode = PaddingMode::Reflect;
  Generator gen(0);
  EXPECT_EQ(error_text([&] { random_crop(o)->apply(ex, gen); }),
            "padding_mode reflect: padding of 4 is too large for an image of 4 columns (at most "
            "3)");
}

TEST(RandomHorizontalFlip, FlipsWhenTorchRandIsBelowP) {
  for (const json& c : fixture()["flip"]) {
    Example ex = mask_example();
    ex.image[0] = 1;  // marks the first column
    Generator gen(c["seed"].get<uint64_t>());
    random_horizontal_flip(c["p"])->apply(ex, gen);
    const bool flipped = ex.image[0] != 1;
    EXPECT_EQ(flipped, c["flipped"].get<bool>()) << c.dump();
    EXPECT_EQ(ex.mask[0], flipped ? mask_example().mask[12] : 255);  // the top row, flipped
  }
}

TEST(Normalize, MatchesTorchvision) {
  const json& c = fixture()["normalize"];
  const auto m = c["mean"].get<std::vector<float>>(), s = c["std"].get<std::vector<float>>();
  Example ex = input(c["input"]);
  Generator gen(0);
  normalize(m, s)->apply(ex, gen);
  json shaped = c;
  shaped["shape"] = {2, 5, 7};
  expect_image(ex, shaped, true);
}

// As torchvision's view(-1, 1, 1) broadcast: one mean for every channel beside one std per
// channel; a negative std is allowed, a zero one is torchvision's error; `inplace` is accepted.
TEST(Normalize, BroadcastsOneValueAndRefusesOnlyAZeroStd) {
  Example ex;
  ex.shape = {2, 1, 3};
  ex.image = {0.0f, 0.25f, 1.0f, 0.5f, 0.75f, 0.1f};
  const std::vector<float> in = ex.image;
  Generator gen(0);
  normalize({0.5f}, {0.25f, -0.5f})->apply(ex, gen);
  for (size_t i = 0; i < in.size(); ++i)
    EXPECT_EQ(ex.image[i], (in[i] - 0.5f) / (i < 3 ? 0.25f : -0.5f)) << i;
  EXPECT_EQ(error_text([] {
              normalize({0.5f}, {0.25f, 0.0f});
            }),
            "normalize: std evaluated to zero after conversion to torch.float32, leading to "
            "division by zero.");
  EXPECT_NE(error_text([] {
              normalize({0.5f, 0.5f}, {1.0f, 1.0f, 1.0f});
            }).find("one value, or one per channel (got 2 and 3)"),
            std::string::npos);
  const TransformPipeline p = parse_transforms(
      config(R"([{"normalize": {"mean": [0.5], "std": [0.5], "inplace": true}}])"), "t");
  EXPECT_EQ(p.describe(), "normalize(mean=[0.5], std=[0.5])");
  EXPECT_EQ(normalize({0.5f}, {0.25f, -0.5f})->describe(),
            "normalize(mean=[0.5], std=[0.25, -0.5])");
}

TEST(TransformConfig, ParsesTorchvisionNamesAndDescribesThem) {
  const TransformPipeline p = parse_transforms(
      config(R"([{"randomresizedcrop": {"size": 224, "scale": [0.25, 1]}}, "randomhorizontalflip",
                 {"resize": {"size": 256, "max_size": 300, "interpolation": "bicubic"}},
                 {"centercrop": {"size": [224, 200]}},
                 {"resize": {"size": [32, 48], "interpolation": "nearest"}},
                 {"resize": {"size": 8, "antialias": false}}, "totensor"])"),
      "data.train_transforms");
  EXPECT_EQ(p.size(), 7u);
  EXPECT_TRUE(p.random());
  EXPECT_EQ(p.describe(),
            "randomresizedcrop(size=[224, 224], scale=[0.25, 1], ratio=[0.75, 1.33333], "
            "interpolation=bilinear, antialias=true) -> randomhorizontalflip(p=0.5) -> "
            "resize(size=256, max_size=300, interpolation=bicubic, antialias=true) -> "
            "centercrop(size=[224, 200]) -> resize(size=[32, 48], interpolation=nearest) -> "
            "resize(size=8, interpolation=bilinear, antialias=false) -> totensor");
}

// torchvision's first argument alone, as written in Python: Resize(256), CenterCrop([224, 200]).
TEST(TransformConfig, SizeAloneIsTheSizeArgument) {
  const auto describe = [](const std::string& text) {
    return parse_transforms(config(text), "data.val_transforms").describe();
  };
  EXPECT_EQ(describe(R"([{"resize": 256}, {"centercrop": [224, 200]}, {"randomcrop": 32},
                         {"randomresizedcrop": 16}])"),
            describe(R"([{"resize": {"size": 256}}, {"centercrop": {"size": [224, 200]}},
                         {"randomcrop": {"size": 32}}, {"randomresizedcrop": {"size": 16}}])"));
  EXPECT_NE(parse_error(R"([{"normalize": 0.5}])")
                .find("data.train_transforms[0].normalize: expected a mapping"),
            std::string::npos);
}

TEST(TransformConfig, ErrorsNameTheListEntry) {
  EXPECT_EQ(parse_error(R"(["randomhorizontalflip", "resise"])"),
            "data.train_transforms[1]: unknown transform 'resise'; did you mean 'resize'?");
  EXPECT_EQ(parse_error(R"([{"resize": {"interpolation": "bilinear"}}])"),
            "data.train_transforms[0].resize: missing required argument 'size'");
  EXPECT_EQ(parse_error(R"([{"centercrop": null}])"),
            "data.train_transforms[0].centercrop: missing required argument 'size'");
  EXPECT_EQ(parse_error(R"(["totensor", {"randomresizedcrop": {"size": 8, "scales": [0.5, 1]}}])"),
            "data.train_transforms[1].randomresizedcrop: unknown argument 'scales'; did you mean "
            "'scale'?");
  EXPECT_EQ(parse_error(R"([{"resize": {"size": 8, "interpolation": "bilinaer"}}])"),
            "data.train_transforms[0].resize.interpolation: unknown interpolation 'bilinaer'; did "
            "you mean 'bilinear'?");
  EXPECT_EQ(parse_error(R"([{"resize": {"size": 8, "antialias": "yes"}}])"),
            "data.train_transforms[0].resize.antialias: expected true or false, got 'yes'");
  EXPECT_EQ(parse_error(R"([{"resize": {"size": [1, 2, 3]}}])"),
            "data.train_transforms[0].resize.size: expected an integer (the smaller edge) or "
            "[height, width], got 3 values");
  EXPECT_EQ(parse_error(R"([{"centercrop": {"size": 0}}])"),
            "data.train_transforms[0].centercrop.size: sizes must be positive, got 0");
  EXPECT_EQ(parse_error(R"([{"randomresizedcrop": {"size": 8, "ratio": [2, 1]}}])"),
            "data.train_transforms[0].randomresizedcrop: ratio must be [min, max] with 0 < min <= "
            "max, got [2, 1]");
  EXPECT_EQ(parse_error(R"([{"randomcrop": {"size": 8, "padding": [-1]}}])"),
            "data.train_transforms[0].randomcrop: padding must be >= 0");
  EXPECT_EQ(parse_error(R"([{"randomcrop": {"size": 8, "padding_mode": "reflekt"}}])"),
            "data.train_transforms[0].randomcrop.padding_mode: unknown padding_mode 'reflekt'; did "
            "you mean 'reflect'?");
  EXPECT_EQ(parse_error(R"([{"resize": {"size": [8, 8], "max_size": 10}}])"),
            "data.train_transforms[0].resize: max_size applies only when size is one integer "
            "(the smaller edge)");
  try {
    parse_transforms(config(R"([{"resize": {}}])"), "data.val_transforms");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(e.hint().find("torchvision's"), std::string::npos) << e.hint();
  }
}

// Not a timed test: prints the time of one resize of a 3x500x375 image to 224 (smaller edge),
// the per-example cost of a typical ImageNet-style pipeline. Run with
// --gtest_also_run_disabled_tests --gtest_filter='*ResizeSpeed*'.
TEST(TransformsBench, DISABLED_ResizeSpeed) {
  Example src;
  src.shape = {3, 500, 375};
  src.image.resize(3 * 500 * 375);
  for (size_t i = 0; i < src.image.size(); ++i) src.image[i] = float(i % 251) / 250.f;
  for (bool aa : {true, false}) {
    auto t = resize({{224}, 0, Interpolation::bilinear, aa});
    Generator gen(0);
    Example ex;
    constexpr int kReps = 200;
    const auto start = std::chrono::steady_clock::now();
    for (int r = 0; r < kReps; ++r) {
      ex.shape = src.shape;
      ex.image.assign(src.image.begin(), src.image.end());
      t->apply(ex, gen);
    }
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    std::printf("resize 3x500x375 -> %s (antialias=%d): %.3f ms per image (incl. a copy in)\n",
                shape_str(ex.shape).c_str(), int(aa), ms / kReps);
  }
}
