// TensorFiles: finding the files, validating shapes and dtypes once, converting one example at a
// time out of the mappings (see tensor_files.h).
#include "framework/data/tensor_files.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <type_traits>

#include "framework/io/npy.h"
#include "framework/io/safetensors.h"
#include "kernels/common/error.h"

namespace tandem::data {
namespace {

namespace fs = std::filesystem;

std::string shape_text(const Shape& s) {
  std::string out = "(";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i > 0) out += ", ";
    out += std::to_string(s[i]);
  }
  return out + ")";
}

bool is_integer(DType t) {
  return t == DType::Int8 || t == DType::Int16 || t == DType::Int32 || t == DType::Int64 ||
         t == DType::UInt8;
}

// One element of type T at p. memcpy: a safetensors file may place a tensor at any offset, so
// its elements need not be aligned for T.
template <typename T>
T load_as(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

// Elements [begin, begin + count) of an integer tensor as int64.
void read_integers(const Tensor& t, int64_t begin, int64_t count, int64_t* out) {
  const auto* base = static_cast<const uint8_t*>(t.raw_data());
  dispatch_all(t.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
      const uint8_t* p = base + size_t(begin) * sizeof(T);
      for (int64_t i = 0; i < count; ++i) out[i] = int64_t(load_as<T>(p + size_t(i) * sizeof(T)));
    }
  });
}

// Elements [begin, begin + count) of an image tensor as float, uint8 scaled as ToTensor does
// (a division, as torchvision's img.float().div(255), not a multiplication by 1/255).
void read_image(const Tensor& t, int64_t begin, int64_t count, float* out) {
  const auto* base = static_cast<const uint8_t*>(t.raw_data());
  const size_t es = element_size(t.dtype());
  const uint8_t* p = base + size_t(begin) * es;
  switch (t.dtype()) {
    case DType::UInt8:
      for (int64_t i = 0; i < count; ++i) out[i] = float(p[i]) / 255.0f;
      break;
    case DType::Float32:
      std::memcpy(out, p, size_t(count) * sizeof(float));
      break;
    case DType::Float64:
      for (int64_t i = 0; i < count; ++i) out[i] = float(load_as<double>(p + size_t(i) * 8));
      break;
    case DType::Float16:
      for (int64_t i = 0; i < count; ++i)
        out[i] = kernels::half_to_float(load_as<Half>(p + size_t(i) * 2));
      break;
    case DType::BFloat16:
      for (int64_t i = 0; i < count; ++i)
        out[i] = kernels::bfloat16_to_float(load_as<BFloat16>(p + size_t(i) * 2));
      break;
    default:
      break;  // refused at construction
  }
}

// The files of one split: root/<split>.safetensors, else the directory root/<split>.
struct Found {
  std::string source;
  bool safetensors = false;
};

Found find_split(const std::string& root, const std::string& split) {
  TANDEM_CHECK(split == "train" || split == "val" || split == "test",
               "tensor files: split must be 'train', 'val' or 'test', got '", split, "'");
  std::vector<std::string> names = {split};
  if (split == "val") names.push_back("test");
  std::string tried;
  for (const std::string& s : names) {
    const std::string st = root + "/" + s + ".safetensors", dir = root + "/" + s;
    if (fs::exists(st)) return {st, true};
    if (fs::is_directory(dir)) return {dir, false};
    if (!tried.empty()) tried += ", ";
    tried += st + ", " + dir + "/";
  }
  throw Error("tensor files: no " + split + " split under " + root + " (looked for " + tried + ")",
              "write <split>.safetensors with tensors images and labels or masks, or a <split>/ "
              "folder holding images.npy with labels.npy or masks.npy");
}

std::string listing(const std::string& dir) {  // the .npy files in dir, for "found: ..."
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.path().extension() == ".npy") names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  std::string out;
  for (const auto& n : names) {
    if (!out.empty()) out += ", ";
    out += n;
  }
  return out.empty() ? std::string("no .npy files") : out;
}

}  // namespace

TensorFiles::TensorFiles(const std::string& root, const std::string& split, int64_t num_classes,
                         int64_t ignore_index)
    : num_classes_(num_classes), ignore_index_(ignore_index) {
  TANDEM_CHECK(num_classes >= 0, "tensor files: num_classes must be >= 0 (0: from the data), got ",
               num_classes);
  const Found found = find_split(root, split);
  source_ = found.source;
  Tensor targets;
  bool has_masks = false;
  if (found.safetensors) {
    const io::TensorMap tensors = io::load_safetensors(source_, nullptr, /*mmap=*/true);
    std::string names;
    for (const auto& [k, v] : tensors) {
      if (!names.empty()) names += ", ";
      names += "'" + k + "'";
    }
    if (names.empty()) names = "no tensors";
    const bool labels = tensors.contains("labels"), masks = tensors.contains("masks");
    TANDEM_CHECK(tensors.contains("images"), source_, ": no 'images' tensor (found ", names, ")");
    TANDEM_CHECK(labels != masks, source_,
                 labels ? ": holds both 'labels' and 'masks'; keep the one this task uses"
                        : ": needs a 'labels' (classification) or 'masks' (segmentation) tensor",
                 " (found ", names, ")");
    images_ = tensors.at("images");
    targets = tensors.at(labels ? "labels" : "masks");
    has_masks = masks;
    images_path_ = targets_path_ = source_;
    images_what_ = source_ + ": 'images'";
    targets_what_ = source_ + (masks ? ": 'masks'" : ": 'labels'");
  } else {
    images_path_ = source_ + "/images.npy";
    const std::string labels = source_ + "/labels.npy", masks = source_ + "/masks.npy";
    const bool has_labels = fs::exists(labels);
    has_masks = fs::exists(masks);
    TANDEM_CHECK(fs::exists(images_path_), images_path_, " does not exist (", source_, "/ holds ",
                 listing(source_), ")");
    TANDEM_CHECK(has_labels != has_masks, source_, "/",
                 has_labels ? " holds both labels.npy and masks.npy; keep the one this task uses"
                            : " needs labels.npy (classification) or masks.npy (segmentation)",
                 " (found ", listing(source_), ")");
    targets_path_ = has_masks ? masks : labels;
    images_ = io::load_npy(images_path_);
    targets = io::load_npy(targets_path_);
    images_what_ = images_path_;
    targets_what_ = targets_path_;
  }

  // Images.
  const Shape& is = images_.sizes();
  const DType idt = images_.dtype();
  TANDEM_CHECK(idt == DType::UInt8 || idt == DType::Float32 || idt == DType::Float16 ||
                   idt == DType::BFloat16 || idt == DType::Float64,
               images_what_, ": images have dtype ", dtype_name(idt),
               "; expected uint8 (scaled by 1/255) or float32, float16, bfloat16, float64");
  TANDEM_CHECK(is.size() == 3 || is.size() == 4, images_what_, ": images have shape ",
               shape_text(is), "; expected (N, C, H, W) or (N, H, W)");
  n_ = is[0];
  channels_ = is.size() == 4 ? is[1] : 1;
  height_ = is[is.size() - 2];
  width_ = is[is.size() - 1];
  TANDEM_CHECK(channels_ > 0 && height_ > 0 && width_ > 0, images_what_, ": images have shape ",
               shape_text(is), ", an empty image");

  // Targets.
  const char* what = has_masks ? "masks" : "labels";
  TANDEM_CHECK(is_integer(targets.dtype()), targets_what_, ": ", what, " have dtype ",
               dtype_name(targets.dtype()), "; expected an integer dtype");
  const Shape& ts = targets.sizes();
  const Shape want = has_masks ? Shape{ts.empty() ? 0 : ts[0], height_, width_} : Shape{n_};
  TANDEM_CHECK(!ts.empty() && ts[0] == n_, targets_what_, ": ", ts.empty() ? 0 : ts[0], " ", what,
               " for the ", n_, " images of ", images_what_);
  TANDEM_CHECK(ts == want, targets_what_, ": ", what, " have shape ", shape_text(ts), "; expected ",
               shape_text(want),
               has_masks ? " (one H x W mask per image, of the images' H and W)" : "");

  if (has_masks) {
    masks_ = targets;
    if (num_classes_ == 0) {
      // One pass over every mask: the largest value that is not ignore_index.
      int64_t max_value = -1;
      std::vector<int64_t> mask(size_t(height_ * width_));
      for (int64_t i = 0; i < n_; ++i) {
        read_integers(masks_, i * height_ * width_, height_ * width_, mask.data());
        for (size_t p = 0; p < mask.size(); ++p) {
          const int64_t v = mask[p];
          if (v == ignore_index_) continue;
          TANDEM_CHECK(v >= 0, targets_what_, ": example ", i, ": mask value ", v, " at row ",
                       int64_t(p) / width_, ", column ", int64_t(p) % width_,
                       " is negative and is not the ignore_index ", ignore_index_);
          max_value = std::max(max_value, v);
        }
      }
      TANDEM_CHECK(max_value >= 0, targets_what_,
                   ": no mask pixel has a class to infer num_classes from; set num_classes");
      num_classes_ = max_value + 1;
    }
  } else {
    labels_.resize(size_t(n_));
    read_integers(targets, 0, n_, labels_.data());
    int64_t max_label = -1;
    for (int64_t i = 0; i < n_; ++i) {
      const int64_t l = labels_[size_t(i)];
      TANDEM_CHECK(l >= 0, targets_what_, ": label ", l, " of example ", i, " is negative");
      TANDEM_CHECK(num_classes == 0 || l < num_classes, targets_what_, ": label ", l,
                   " of example ", i, " is outside [0, ", num_classes, ")");
      max_label = std::max(max_label, l);
    }
    if (num_classes_ == 0) {
      TANDEM_CHECK(n_ > 0, targets_what_, ": no labels to infer num_classes from; set num_classes");
      num_classes_ = max_label + 1;
    }
  }
}

std::string TensorFiles::describe(int64_t index) const {
  return images_path_ + "[" + std::to_string(index) + "]";
}

void TensorFiles::check_mask_values(int64_t index, const int64_t* mask) const {
  for (int64_t p = 0; p < height_ * width_; ++p) {
    const int64_t v = mask[p];
    if (v == ignore_index_ || (v >= 0 && v < num_classes_)) continue;
    throw Error(targets_what_ + ": example " + std::to_string(index) + ": mask value " +
                    std::to_string(v) + " at row " + std::to_string(p / width_) + ", column " +
                    std::to_string(p % width_) + " is outside [0, " + std::to_string(num_classes_) +
                    ") and is not the ignore_index " + std::to_string(ignore_index_),
                "set data.num_classes to cover every class, or mark unlabelled pixels with the "
                "ignore_index");
  }
}

void TensorFiles::load(int64_t index, Example& out) const {
  TANDEM_CHECK(index >= 0 && index < n_, name(), ": index ", index, " out of range [0, ", n_, ")");
  const int64_t pixels = channels_ * height_ * width_;
  out.shape = {channels_, height_, width_};
  out.image.resize(size_t(pixels));
  read_image(images_, index * pixels, pixels, out.image.data());
  if (masks_.defined()) {
    const int64_t hw = height_ * width_;
    out.mask.resize(size_t(hw));
    out.mask_height = height_;
    out.mask_width = width_;
    read_integers(masks_, index * hw, hw, out.mask.data());
    check_mask_values(index, out.mask.data());
    out.label = 0;
  } else {
    out.label = labels_[size_t(index)];
    out.mask.clear();
    out.mask_height = out.mask_width = 0;
  }
}

}  // namespace tandem::data
