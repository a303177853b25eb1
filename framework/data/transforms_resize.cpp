// The transforms that change an image's size: resize, centercrop and randomresizedcrop, with
// torchvision 0.14's sizes, offsets and draws; the resampling itself is resample.h's.
#include <algorithm>
#include <cmath>

#include "framework/data/torch_draws.h"
#include "framework/data/transform_helpers.h"
#include "framework/data/transforms.h"

namespace tandem::data {

namespace {

using detail::check_image;
using detail::list_text;
using detail::number_text;
using detail::numbers_text;

std::string resampling_text(const Resampler& r) {
  std::string s = "interpolation=";
  s += interpolation_name(r.mode());
  if (r.mode() != Interpolation::nearest)
    s += r.antialias() ? ", antialias=true" : ", antialias=false";
  return s;
}

// Resizes the window (y0, x0, h, w) of the example's image to oh x ow, and its mask alike.
void resize_example(Example& ex, const Resampler& r, int64_t y0, int64_t x0, int64_t h, int64_t w,
                    int64_t oh, int64_t ow) {
  const int64_t C = ex.channels(), H = ex.height(), W = ex.width();
  thread_local std::vector<float> out;
  r.resize(ex.image.data(), C, H, W, y0, x0, h, w, oh, ow, out);
  ex.image.swap(out);
  if (ex.has_mask()) {
    thread_local std::vector<int64_t> mask;
    Resampler::resize_mask(ex.mask.data(), W, y0, x0, h, w, oh, ow, mask);
    ex.mask.swap(mask);
    ex.mask_height = oh, ex.mask_width = ow;
  }
  ex.shape = {C, oh, ow};
}

class Resize : public Transform {
 public:
  explicit Resize(ResizeOptions o) : o_(std::move(o)), resampler_(o_.interpolation, o_.antialias) {
    TANDEM_CHECK(o_.size.size() == 1 || o_.size.size() == 2,
                 "resize: size is one integer (the smaller edge) or [height, width]");
    for (int64_t s : o_.size) TANDEM_CHECK(s > 0, "resize: size must be positive, got ", s);
    TANDEM_CHECK(o_.max_size >= 0, "resize: max_size must be positive, got ", o_.max_size);
    TANDEM_CHECK(o_.max_size == 0 || o_.size.size() == 1,
                 "resize: max_size applies only when size is one integer (the smaller edge)");
    TANDEM_CHECK(o_.max_size == 0 || o_.max_size > o_.size[0], "resize: max_size = ", o_.max_size,
                 " must be strictly greater than the smaller edge's size ", o_.size[0]);
  }
  std::string describe() const override {
    std::string s = "resize(size=";
    s += o_.size.size() == 1 ? std::to_string(o_.size[0]) : list_text(o_.size);
    if (o_.max_size > 0) s += ", max_size=" + std::to_string(o_.max_size);
    s += ", " + resampling_text(resampler_) + ")";
    return s;
  }
  void apply(Example& ex, Generator&) const override {
    check_image(ex, "resize");
    const int64_t H = ex.height(), W = ex.width();
    const auto [oh, ow] = resized_size(H, W, o_.size, o_.max_size);
    if (oh == H && ow == W) return;
    resize_example(ex, resampler_, 0, 0, H, W, oh, ow);
  }

 private:
  ResizeOptions o_;
  Resampler resampler_;
};

class CenterCrop : public Transform {
 public:
  CenterCrop(int64_t h, int64_t w, TransformOptions common) : h_(h), w_(w), common_(common) {
    TANDEM_CHECK(h > 0 && w > 0, "centercrop: size must be positive, got ", list_text({h, w}));
  }
  std::string describe() const override { return "centercrop(size=" + list_text({h_, w_}) + ")"; }
  void apply(Example& ex, Generator&) const override {
    check_image(ex, "centercrop");
    const int64_t H = ex.height(), W = ex.width();
    if (H == h_ && W == w_) return;
    // torchvision pads a too-small side symmetrically (the odd pixel right / bottom) with 0,
    // then crops at the rounded centre of the padded image.
    const int64_t left = w_ > W ? (w_ - W) / 2 : 0, right = w_ > W ? (w_ - W + 1) / 2 : 0;
    const int64_t top = h_ > H ? (h_ - H) / 2 : 0, bottom = h_ > H ? (h_ - H + 1) / 2 : 0;
    const int64_t ph = H + top + bottom, pw = W + left + right;
    const int64_t y = int64_t(std::nearbyint(double(ph - h_) / 2.0));
    const int64_t x = int64_t(std::nearbyint(double(pw - w_) / 2.0));
    detail::crop_example(ex, y - top, x - left, h_, w_, 0.0f, common_.mask_fill);
  }

 private:
  int64_t h_, w_;
  TransformOptions common_;
};

class RandomResizedCrop : public Transform {
 public:
  explicit RandomResizedCrop(RandomResizedCropOptions o)
      : o_(o), resampler_(o.interpolation, o.antialias) {
    TANDEM_CHECK(o_.height > 0 && o_.width > 0, "randomresizedcrop: size must be positive, got ",
                 list_text({o_.height, o_.width}));
    TANDEM_CHECK(o_.scale[0] >= 0 && o_.scale[0] <= o_.scale[1],
                 "randomresizedcrop: scale must be [min, max] with 0 <= min <= max, got ",
                 numbers_text({o_.scale[0], o_.scale[1]}));
    TANDEM_CHECK(o_.ratio[0] > 0 && o_.ratio[0] <= o_.ratio[1],
                 "randomresizedcrop: ratio must be [min, max] with 0 < min <= max, got ",
                 numbers_text({o_.ratio[0], o_.ratio[1]}));
  }
  bool random() const override { return true; }
  std::string describe() const override {
    return "randomresizedcrop(size=" + list_text({o_.height, o_.width}) +
           ", scale=" + numbers_text({o_.scale[0], o_.scale[1]}) +
           ", ratio=" + numbers_text({o_.ratio[0], o_.ratio[1]}) + ", " +
           resampling_text(resampler_) + ")";
  }
  void apply(Example& ex, Generator& gen) const override {
    check_image(ex, "randomresizedcrop");
    const CropBox b = random_resized_crop_params(ex.height(), ex.width(), o_.scale, o_.ratio, gen);
    resize_example(ex, resampler_, b.top, b.left, b.height, b.width, o_.height, o_.width);
  }

 private:
  RandomResizedCropOptions o_;
  Resampler resampler_;
};

}  // namespace

std::pair<int64_t, int64_t> resized_size(int64_t h, int64_t w, const std::vector<int64_t>& size,
                                         int64_t max_size) {
  TANDEM_CHECK(size.size() == 1 || size.size() == 2, "resize: size has 1 or 2 values, got ",
               size.size());
  TANDEM_CHECK(h > 0 && w > 0, "resize: cannot resize an empty ", h, "x", w, " image");
  if (size.size() == 2) return {size[0], size[1]};
  // Python's int(size * long / short): a true division of exact integers, truncated.
  const int64_t shorter = std::min(h, w), longer = std::max(h, w);
  int64_t new_short = size[0];
  int64_t new_long = int64_t(double(new_short * longer) / double(shorter));
  if (max_size > 0 && new_long > max_size) {
    new_short = int64_t(double(max_size * new_short) / double(new_long));
    new_long = max_size;
  }
  TANDEM_CHECK(new_short > 0 && new_long > 0, "resize: a ", h, "x", w, " image resized to ",
               size[0], " (max_size ", max_size, ") would have a zero-sized side");
  return w <= h ? std::pair{new_long, new_short} : std::pair{new_short, new_long};
}

CropBox random_resized_crop_params(int64_t H, int64_t W, std::array<double, 2> scale,
                                   std::array<double, 2> ratio, Generator& gen) {
  TANDEM_CHECK(H > 0 && W > 0, "randomresizedcrop: empty image ", H, "x", W);
  const double area = double(H) * double(W);
  // torch.log(torch.tensor(ratio)): float32 logarithms (correctly rounded here; torch's Sleef
  // logf agrees on the defaults and is within an ulp elsewhere).
  const float log0 = float(std::log(double(float(ratio[0]))));
  const float log1 = float(std::log(double(float(ratio[1]))));
  for (int attempt = 0; attempt < 10; ++attempt) {
    const double target_area = area * double(torch_uniform(gen, scale[0], scale[1]));
    const double aspect = double(torch_expf(torch_uniform(gen, log0, log1)));
    // int(round(...)): Python rounds half to even, as nearbyint does.
    const int64_t w = int64_t(std::nearbyint(std::sqrt(target_area * aspect)));
    const int64_t h = int64_t(std::nearbyint(std::sqrt(target_area / aspect)));
    if (0 < w && w <= W && 0 < h && h <= H) {
      const int64_t i = torch_randint(gen, 0, H - h + 1);
      const int64_t j = torch_randint(gen, 0, W - w + 1);
      return {i, j, h, w};
    }
  }
  // The central crop, clamped to the ratio range.
  const double in_ratio = double(W) / double(H);
  const double rmin = std::min(ratio[0], ratio[1]), rmax = std::max(ratio[0], ratio[1]);
  int64_t w = W, h = H;
  if (in_ratio < rmin) {
    h = int64_t(std::nearbyint(double(w) / rmin));
  } else if (in_ratio > rmax) {
    w = int64_t(std::nearbyint(double(h) * rmax));
  }
  return {(H - h) / 2, (W - w) / 2, h, w};
}

std::unique_ptr<Transform> resize(ResizeOptions options) {
  return std::make_unique<Resize>(std::move(options));
}
std::unique_ptr<Transform> center_crop(int64_t height, int64_t width, TransformOptions common) {
  return std::make_unique<CenterCrop>(height, width, common);
}
std::unique_ptr<Transform> random_resized_crop(RandomResizedCropOptions options) {
  return std::make_unique<RandomResizedCrop>(options);
}

}  // namespace tandem::data
