// The transform pipeline, its config parser, the helpers the transform files share
// (transform_helpers.h), and the transforms that keep an image's size apart from padding
// (randomcrop, randomhorizontalflip, normalize, totensor).
#include "framework/data/transforms.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <functional>
#include <map>

#include "framework/core/text.h"
#include "framework/core/value_args.h"
#include "framework/data/torch_draws.h"
#include "framework/data/transform_helpers.h"

namespace tandem::data {

void TransformPipeline::add(std::unique_ptr<Transform> transform) {
  transforms_.push_back(std::move(transform));
}

void TransformPipeline::apply(Example& example, Generator& gen) const {
  for (const auto& t : transforms_) t->apply(example, gen);
}

bool TransformPipeline::random() const {
  return std::any_of(transforms_.begin(), transforms_.end(),
                     [](const auto& t) { return t->random(); });
}

std::string TransformPipeline::describe() const {
  if (transforms_.empty()) return "none";
  std::string out;
  for (const auto& t : transforms_) {
    if (!out.empty()) out += " -> ";
    out += t->describe();
  }
  return out;
}

const char* padding_mode_name(PaddingMode mode) {
  switch (mode) {
    case PaddingMode::Constant:
      return "constant";
    case PaddingMode::Edge:
      return "edge";
    case PaddingMode::Reflect:
      return "reflect";
    case PaddingMode::Symmetric:
      return "symmetric";
  }
  return "?";
}

namespace detail {

std::string number_text(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

std::string list_text(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(v[i]);
  }
  return s + "]";
}

std::string numbers_text(const std::vector<double>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) s += ", ";
    s += number_text(v[i]);
  }
  return s + "]";
}

void check_image(const Example& ex, const char* what) {
  TANDEM_CHECK(ex.shape.size() == 3, what, " needs a (C, H, W) image, got ", shape_str(ex.shape));
  TANDEM_CHECK(!ex.has_mask() || (ex.mask_height == ex.height() && ex.mask_width == ex.width()),
               what, ": the mask is ", ex.mask_height, "x", ex.mask_width, " but the image is ",
               ex.height(), "x", ex.width());
}

namespace {

// The row (column) of an image of n rows that padded position i shows, or -1 for the constant
// fill. Reflect and symmetric mirror once (the callers keep the padding within one mirror).
int64_t padded_source(int64_t i, int64_t n, PaddingMode mode) {
  if (i >= 0 && i < n) return i;
  switch (mode) {
    case PaddingMode::Constant:
      return -1;
    case PaddingMode::Edge:
      return i < 0 ? 0 : n - 1;
    case PaddingMode::Reflect:
      return i < 0 ? -i : 2 * (n - 1) - i;
    case PaddingMode::Symmetric:
      return i < 0 ? -i - 1 : 2 * n - 1 - i;
  }
  return -1;
}

// Source indices of the window's rows (or columns) [start, start + len).
void window_sources(std::vector<int64_t>& out, int64_t start, int64_t len, int64_t n,
                    PaddingMode mode) {
  out.resize(size_t(len));
  for (int64_t k = 0; k < len; ++k) out[size_t(k)] = padded_source(start + k, n, mode);
}

}  // namespace

void crop_example(Example& ex, int64_t y0, int64_t x0, int64_t h, int64_t w, float fill,
                  int64_t mask_fill, PaddingMode mode) {
  const int64_t C = ex.channels(), H = ex.height(), W = ex.width();
  if (y0 == 0 && x0 == 0 && h == H && w == W) return;  // the whole image
  if (mode != PaddingMode::Constant) {
    // One mirror at most, as torch's pad: reflect reaches n - 1 past an edge, the others n.
    auto check_axis = [&](int64_t start, int64_t len, int64_t n, const char* axis) {
      const int64_t reach = std::max({-start, start + len - n, int64_t(0)});
      const int64_t limit = mode == PaddingMode::Reflect ? n - 1 : n;
      TANDEM_CHECK(reach <= limit, "padding_mode ", padding_mode_name(mode), ": padding of ", reach,
                   " is too large for an image of ", n, " ", axis, " (at most ", limit, ")");
    };
    check_axis(y0, h, H, "rows");
    check_axis(x0, w, W, "columns");
  }
  thread_local std::vector<int64_t> rows, cols;
  window_sources(rows, y0, h, H, mode);
  window_sources(cols, x0, w, W, mode);
  thread_local std::vector<float> out;
  out.resize(size_t(C * h * w));
  for (int64_t c = 0; c < C; ++c)
    for (int64_t r = 0; r < h; ++r) {
      const int64_t sr = rows[size_t(r)];
      for (int64_t col = 0; col < w; ++col) {
        const int64_t sc = cols[size_t(col)];
        out[size_t((c * h + r) * w + col)] =
            sr >= 0 && sc >= 0 ? ex.image[size_t((c * H + sr) * W + sc)] : fill;
      }
    }
  ex.image.swap(out);
  if (ex.has_mask()) {
    thread_local std::vector<int64_t> mask;
    mask.resize(size_t(h * w));
    for (int64_t r = 0; r < h; ++r)
      for (int64_t col = 0; col < w; ++col) {
        const int64_t sr = rows[size_t(r)], sc = cols[size_t(col)];
        mask[size_t(r * w + col)] = sr >= 0 && sc >= 0 ? ex.mask[size_t(sr * W + sc)] : mask_fill;
      }
    ex.mask.swap(mask);
    ex.mask_height = h, ex.mask_width = w;
  }
  ex.shape = {C, h, w};
}

}  // namespace detail

namespace {

using detail::check_image;
using detail::list_text;
using detail::number_text;
using detail::numbers_text;

class RandomCrop : public Transform {
 public:
  RandomCrop(RandomCropOptions o, TransformOptions common) : o_(std::move(o)), common_(common) {
    // 0 x 0 keeps the input's size (the data.random_crop_padding key: pad, then crop back).
    TANDEM_CHECK((o_.height > 0 && o_.width > 0) || (o_.height == 0 && o_.width == 0),
                 "randomcrop: size must be positive");
    const size_t n = o_.padding.size();
    TANDEM_CHECK(n == 0 || n == 1 || n == 2 || n == 4,
                 "randomcrop: padding takes 1, 2 or 4 values, got ", n);
    for (int64_t p : o_.padding) TANDEM_CHECK(p >= 0, "randomcrop: padding must be >= 0");
    if (n == 0) pad_ = {0, 0, 0, 0};
    if (n == 1) pad_ = {o_.padding[0], o_.padding[0], o_.padding[0], o_.padding[0]};
    if (n == 2) pad_ = {o_.padding[0], o_.padding[1], o_.padding[0], o_.padding[1]};
    if (n == 4) pad_ = {o_.padding[0], o_.padding[1], o_.padding[2], o_.padding[3]};
  }
  bool random() const override { return true; }
  std::string describe() const override {
    return "randomcrop(size=" + list_text({o_.height, o_.width}) +
           (o_.padding.empty() ? "" : ", padding=" + list_text(o_.padding)) +
           (o_.pad_if_needed ? ", pad_if_needed=true" : "") +
           (o_.padding_mode == PaddingMode::Constant
                ? ""
                : std::string(", padding_mode=") + padding_mode_name(o_.padding_mode)) +
           ")";
  }
  void apply(Example& ex, Generator& gen) const override {
    check_image(ex, "randomcrop");
    // torchvision pads first (padding, then pad_if_needed on each side that is short), then
    // draws the row offset and the column offset: randint(0, h - th + 1), randint(0, w - tw + 1).
    int64_t left = pad_[0], top = pad_[1], right = pad_[2], bottom = pad_[3];
    const int64_t H = ex.height(), W = ex.width();
    const int64_t th = o_.height > 0 ? o_.height : H, tw = o_.width > 0 ? o_.width : W;
    if (o_.pad_if_needed && W + left + right < tw) {
      const int64_t extra = tw - (W + left + right);
      left += extra, right += extra;
    }
    if (o_.pad_if_needed && H + top + bottom < th) {
      const int64_t extra = th - (H + top + bottom);
      top += extra, bottom += extra;
    }
    const int64_t ph = H + top + bottom, pw = W + left + right;
    TANDEM_CHECK(ph >= th && pw >= tw, "randomcrop: the crop ", list_text({th, tw}),
                 " is larger than the (padded) image ", list_text({ph, pw}),
                 "; use pad_if_needed: true or a resize first");
    // get_params draws nothing when the crop is the whole (padded) image.
    int64_t i = 0, j = 0;
    if (ph != th || pw != tw) {
      i = torch_randint(gen, 0, ph - th + 1);
      j = torch_randint(gen, 0, pw - tw + 1);
    }
    // Crop window in the unpadded image's coordinates.
    detail::crop_example(ex, i - top, j - left, th, tw, o_.fill, common_.mask_fill,
                         o_.padding_mode);
  }

 private:
  RandomCropOptions o_;
  TransformOptions common_;
  std::array<int64_t, 4> pad_{};  // left, top, right, bottom
};

class RandomHorizontalFlip : public Transform {
 public:
  explicit RandomHorizontalFlip(double p) : p_(p) {
    TANDEM_CHECK(p >= 0 && p <= 1, "randomhorizontalflip: p must be in [0, 1], got ", p);
  }
  bool random() const override { return true; }
  std::string describe() const override {
    return "randomhorizontalflip(p=" + number_text(p_) + ")";
  }
  void apply(Example& ex, Generator& gen) const override {
    check_image(ex, "randomhorizontalflip");
    if (!(torch_rand(gen) < float(p_))) return;  // torchvision: torch.rand(1) < p
    const int64_t rows = ex.channels() * ex.height(), W = ex.width();
    for (int64_t r = 0; r < rows; ++r)
      std::reverse(ex.image.begin() + r * W, ex.image.begin() + (r + 1) * W);
    for (int64_t r = 0; r < ex.mask_height && ex.has_mask(); ++r)
      std::reverse(ex.mask.begin() + r * W, ex.mask.begin() + (r + 1) * W);
  }

 private:
  double p_;
};

class Normalize : public Transform {
 public:
  Normalize(std::vector<float> mean, std::vector<float> std)
      : mean_(std::move(mean)), std_(std::move(std)) {
    // As torchvision (mean.view(-1, 1, 1), std likewise): each is one value for every channel or
    // one per channel, and a negative std is allowed; only a zero divides by zero.
    TANDEM_CHECK(!mean_.empty() && !std_.empty() &&
                     (mean_.size() == std_.size() || mean_.size() == 1 || std_.size() == 1),
                 "normalize: mean and std must have one value, or one per channel (got ",
                 mean_.size(), " and ", std_.size(), ")");
    for (float s : std_)
      TANDEM_CHECK(s != 0,
                   "normalize: std evaluated to zero after conversion to torch.float32, "
                   "leading to division by zero.");
  }
  std::string describe() const override {
    // mean and std may differ in length (one value broadcasts)
    return "normalize(mean=" + numbers_text(std::vector<double>(mean_.begin(), mean_.end())) +
           ", std=" + numbers_text(std::vector<double>(std_.begin(), std_.end())) + ")";
  }
  void apply(Example& ex, Generator&) const override {
    const int64_t C = ex.channels();
    for (const auto* v : {&mean_, &std_})
      TANDEM_CHECK(int64_t(v->size()) == C || v->size() == 1, "normalize: ", v->size(),
                   v == &mean_ ? " mean" : " std", " values but the images have ", C, " channels");
    const int64_t plane = int64_t(ex.image.size()) / C;
    auto of_channel = [](const std::vector<float>& v, int64_t c) {
      return v[v.size() == 1 ? 0 : size_t(c)];
    };
    for (int64_t c = 0; c < C; ++c) {
      // torchvision: tensor.sub_(mean).div_(std)
      const float m = of_channel(mean_, c), sd = of_channel(std_, c);
      float* p = ex.image.data() + c * plane;
      for (int64_t j = 0; j < plane; ++j) p[j] = (p[j] - m) / sd;
    }
  }

 private:
  std::vector<float> mean_, std_;
};

class ToTensor : public Transform {
 public:
  std::string describe() const override { return "totensor"; }
  void apply(Example&, Generator&) const override {}
};

// --- config parsing ---------------------------------------------------------------------------

// A (height, width) from torchvision's `size`: one integer (or a one-element list) means a square.
std::pair<int64_t, int64_t> size_pair(ValueArgs& a) {
  const std::vector<int64_t> s = a.ints("size");
  TANDEM_CHECK(s.size() == 1 || s.size() == 2, a.at("size"),
               ": expected an integer or [height, width], got ", s.size(), " values");
  for (int64_t v : s) TANDEM_CHECK(v > 0, a.at("size"), ": sizes must be positive, got ", v);
  return s.size() == 1 ? std::pair{s[0], s[0]} : std::pair{s[0], s[1]};
}

// One of the names `name_of` gives the `choices`; an unknown name is refused with a suggestion.
template <class Mode>
Mode mode_arg(ValueArgs& a, const std::string& key, Mode def, std::vector<Mode> choices,
              const char* (*name_of)(Mode)) {
  const std::string s = a.str_(key, name_of(def));
  std::vector<std::string> names;
  for (Mode m : choices) {
    if (s == name_of(m)) return m;
    names.push_back(name_of(m));
  }
  const std::string c = closest_match(s, names);
  std::string what = a.at(key) + ": unknown " + key + " '" + s + "'";
  if (!c.empty()) what += "; did you mean '" + c + "'?";
  std::string hint = key + ": ";
  for (size_t i = 0; i < names.size(); ++i)
    hint += (i == 0 ? "" : i + 1 == names.size() ? " or " : ", ") + names[i];
  throw Error(what, hint);
}

Interpolation interpolation_arg(ValueArgs& a) {
  return mode_arg(a, "interpolation", Interpolation::bilinear,
                  {Interpolation::nearest, Interpolation::bilinear, Interpolation::bicubic},
                  interpolation_name);
}

// Two numbers (scale: [0.08, 1.0]), as doubles.
std::array<double, 2> range_arg(ValueArgs& a, const std::string& key, std::array<double, 2> def) {
  const std::vector<double> v = a.numbers(key, std::vector<double>{def[0], def[1]});
  TANDEM_CHECK(v.size() == 2, a.at(key), ": expected two numbers [min, max], got ", v.size());
  return {v[0], v[1]};
}

using Factory = std::function<std::unique_ptr<Transform>(ValueArgs&, const TransformOptions&)>;

const std::map<std::string, Factory>& factories() {
  static const std::map<std::string, Factory> table = {
      {"randomcrop",
       [](ValueArgs& a, const TransformOptions& common) {
         RandomCropOptions o;
         std::tie(o.height, o.width) = size_pair(a);
         o.padding = a.ints("padding", std::vector<int64_t>{});
         o.pad_if_needed = a.bool_("pad_if_needed", false);
         o.fill = float(a.float_("fill", 0.0));
         o.padding_mode = mode_arg(a, "padding_mode", PaddingMode::Constant,
                                   {PaddingMode::Constant, PaddingMode::Edge, PaddingMode::Reflect,
                                    PaddingMode::Symmetric},
                                   padding_mode_name);
         return random_crop(o, common);
       }},
      {"randomhorizontalflip",
       [](ValueArgs& a, const TransformOptions&) {
         return random_horizontal_flip(a.float_("p", 0.5));
       }},
      {"normalize",
       [](ValueArgs& a, const TransformOptions&) {
         const auto m = a.numbers("mean"), s = a.numbers("std");
         a.bool_("inplace", false);  // torchvision's; the result is the same either way
         return normalize(std::vector<float>(m.begin(), m.end()),
                          std::vector<float>(s.begin(), s.end()));
       }},
      {"resize",
       [](ValueArgs& a, const TransformOptions&) {
         ResizeOptions o;
         o.size = a.ints("size");
         TANDEM_CHECK(o.size.size() == 1 || o.size.size() == 2, a.at("size"),
                      ": expected an integer (the smaller edge) or [height, width], got ",
                      o.size.size(), " values");
         o.interpolation = interpolation_arg(a);
         o.max_size = a.int_("max_size", 0);
         o.antialias = a.bool_("antialias", true);
         return resize(o);
       }},
      {"centercrop",
       [](ValueArgs& a, const TransformOptions& common) {
         const auto [h, w] = size_pair(a);
         return center_crop(h, w, common);
       }},
      {"randomresizedcrop",
       [](ValueArgs& a, const TransformOptions&) {
         RandomResizedCropOptions o;
         std::tie(o.height, o.width) = size_pair(a);
         o.scale = range_arg(a, "scale", o.scale);
         o.ratio = range_arg(a, "ratio", o.ratio);
         o.interpolation = interpolation_arg(a);
         o.antialias = a.bool_("antialias", true);
         return random_resized_crop(o);
       }},
      {"totensor",
       [](ValueArgs&, const TransformOptions&) { return std::make_unique<ToTensor>(); }},
  };
  return table;
}

}  // namespace

std::unique_ptr<Transform> random_crop(RandomCropOptions options, TransformOptions common) {
  return std::make_unique<RandomCrop>(std::move(options), common);
}
std::unique_ptr<Transform> random_horizontal_flip(double p) {
  return std::make_unique<RandomHorizontalFlip>(p);
}
std::unique_ptr<Transform> normalize(std::vector<float> mean, std::vector<float> std) {
  return std::make_unique<Normalize>(std::move(mean), std::move(std));
}

std::vector<std::string> transform_names() {
  std::vector<std::string> names;
  for (const auto& [name, f] : factories()) names.push_back(name);
  return names;
}

TransformPipeline parse_transforms(const Value& list, const std::string& path,
                                   const TransformOptions& options) {
  TransformPipeline pipeline;
  if (list.is_none()) return pipeline;
  TANDEM_CHECK(list.is_list() || list.is_tuple(), path,
               ": expected a list of transforms like [randomhorizontalflip, {normalize: {mean: "
               "[0.5], std: [0.5]}}], got ",
               list.kind());
  for (size_t i = 0; i < list.items().size(); ++i) {
    const Value& item = list.items()[i];
    const std::string where = path + "[" + std::to_string(i) + "]";
    std::string name;
    const Value* args = nullptr;
    if (item.is_string()) {
      name = item.to_string();
    } else {
      TANDEM_CHECK(
          item.is_dict() && item.size() == 1 && item.dict_items().begin()->first.is_string(), where,
          ": expected a transform name or {name: {arguments}}, got ", item.repr());
      name = item.dict_items().begin()->first.to_string();
      args = &item.dict_items().begin()->second;
    }
    const auto& table = factories();
    const auto it = table.find(name);
    if (it == table.end()) {
      const std::string c = closest_match(name, transform_names());
      std::string known;
      for (const auto& n : transform_names()) {
        if (!known.empty()) known += ", ";
        known += n;
      }
      throw Error(where + ": unknown transform '" + name + "'" +
                      (c.empty() ? "" : "; did you mean '" + c + "'?"),
                  "transforms: " + known);
    }
    // torchvision's first argument of the sized transforms may stand alone, as in Python:
    // {resize: 256} is {resize: {size: 256}}.
    Value size_only;
    const bool sized = name == "resize" || name == "centercrop" || name == "randomcrop" ||
                       name == "randomresizedcrop";
    if (sized && args && (args->is_int() || args->is_list() || args->is_tuple())) {
      size_only = Value::dict();
      size_only.set(Value("size"), *args);
      args = &size_only;
    }
    ValueArgs a(args, where + "." + name, "torchvision's");
    try {
      pipeline.add(it->second(a, options));
    } catch (const Error& e) {
      // A transform's own check ("randomcrop: padding must be >= 0") gets the list's path.
      const std::string msg = e.what(), own = name + ": ";
      if (msg.rfind(a.path(), 0) == 0) throw;
      throw Error(a.path() + ": " + (msg.rfind(own, 0) == 0 ? msg.substr(own.size()) : msg),
                  e.hint());
    }
    a.finish();
  }
  return pipeline;
}

}  // namespace tandem::data
