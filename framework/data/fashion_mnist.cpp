// IDX parsing for Fashion-MNIST (big-endian magic 0x00000803 images, 0x00000801 labels).
#include "framework/data/fashion_mnist.h"

#include <zlib.h>

#include <filesystem>

#include "kernels/common/error.h"

namespace tandem::data {

std::vector<uint8_t> read_gzip_file(const std::string& path) {
  if (!std::filesystem::exists(path))
    throw Error("dataset file not found: " + path,
                "install Debian's dataset-fashion-mnist package (apt-get install dataset-fashion-mnist) "
                "or set data.root to the folder holding the IDX .gz files");
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) throw Error("cannot open " + path);
  std::vector<uint8_t> out;
  uint8_t buf[1 << 16];
  int n;
  while ((n = gzread(f, buf, sizeof(buf))) > 0) out.insert(out.end(), buf, buf + n);
  int errnum = 0;
  const char* msg = gzerror(f, &errnum);
  const bool failed = n < 0 || (errnum != Z_OK && errnum != Z_STREAM_END);
  const std::string err = failed ? std::string(msg) : "";
  gzclose(f);
  if (failed) throw Error("corrupt gzip file " + path + ": " + err, "reinstall the dataset package");
  return out;
}

namespace {

uint32_t be32(const std::vector<uint8_t>& b, size_t at) {
  return uint32_t(b[at]) << 24 | uint32_t(b[at + 1]) << 16 | uint32_t(b[at + 2]) << 8 | uint32_t(b[at + 3]);
}

}  // namespace

FashionMnist::FashionMnist(const std::string& root, const std::string& split) : split_(split) {
  TANDEM_CHECK(split == "train" || split == "test", "Fashion-MNIST split must be 'train' or 'test', got '", split, "'");
  const std::string prefix = root + "/" + (split == "train" ? "train" : "t10k");
  const std::string image_path = prefix + "-images-idx3-ubyte.gz";
  const std::string label_path = prefix + "-labels-idx1-ubyte.gz";
  std::vector<uint8_t> img = read_gzip_file(image_path);
  std::vector<uint8_t> lab = read_gzip_file(label_path);
  TANDEM_CHECK(img.size() >= 16 && be32(img, 0) == 0x803, image_path, ": not an IDX image file");
  TANDEM_CHECK(lab.size() >= 8 && be32(lab, 0) == 0x801, label_path, ": not an IDX label file");
  const int64_t n = be32(img, 4);
  rows_ = be32(img, 8);
  cols_ = be32(img, 12);
  TANDEM_CHECK(int64_t(img.size()) == 16 + n * rows_ * cols_, image_path, ": truncated (", img.size(),
               " bytes for ", n, " images of ", rows_, "x", cols_, ")");
  TANDEM_CHECK(int64_t(be32(lab, 4)) == n && int64_t(lab.size()) == 8 + n, label_path,
               ": label count does not match ", n, " images");
  images_.assign(img.begin() + 16, img.end());
  labels_.assign(lab.begin() + 8, lab.end());
  for (uint8_t l : labels_) TANDEM_CHECK(l < 10, label_path, ": label ", int(l), " out of range");
}

int64_t FashionMnist::get(int64_t index, float* out) const {
  const int64_t pixels = rows_ * cols_;
  const uint8_t* src = images_.data() + index * pixels;
  for (int64_t i = 0; i < pixels; ++i) out[i] = float(src[i]) * (1.0f / 255.0f);
  return labels_[size_t(index)];
}

}  // namespace tandem::data
