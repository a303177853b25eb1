// IDX parsing for Fashion-MNIST (big-endian magic 0x00000803 images, 0x00000801 labels).
#include "framework/data/fashion_mnist.h"

#include <zlib.h>

#include <filesystem>

#include "framework/core/checked_math.h"
#include "kernels/common/error.h"

namespace tandem::data {

namespace {

constexpr uint64_t kMaxDeflateRatio = 1032;  // deflate's largest expansion (RFC 1951 limits)

// gzread into `out` until it is full or the file ends; returns the bytes read.
uint64_t read_some(gzFile f, uint8_t* out, uint64_t n, const std::string& path) {
  uint64_t got = 0;
  while (got < n) {
    const unsigned chunk = unsigned(std::min<uint64_t>(n - got, 1u << 30));
    const int r = gzread(f, out + got, chunk);
    if (r < 0) {
      int errnum = 0;
      throw Error("corrupt gzip file " + path + ": " + gzerror(f, &errnum),
                  "reinstall the dataset package");
    }
    if (r == 0) break;
    got += uint64_t(r);
  }
  return got;
}

struct GzFile {
  gzFile f;
  ~GzFile() { gzclose(f); }
};

}  // namespace

IdxFile read_idx(const std::string& path, uint32_t magic) {
  if (!std::filesystem::exists(path))
    throw Error("dataset file not found: " + path,
                "install Debian's dataset-fashion-mnist package (apt-get install "
                "dataset-fashion-mnist) or set data.root to the folder holding the IDX .gz files");
  std::error_code ec;
  const uint64_t file_size = std::filesystem::file_size(path, ec);
  if (ec) throw Error("cannot read " + path + ": " + ec.message());
  GzFile gz{gzopen(path.c_str(), "rb")};
  if (!gz.f) throw Error("cannot open " + path);
  const size_t ndims = magic & 0xff;  // IDX: the low byte of the magic is the number of dims
  uint8_t header[4 + 4 * 3];
  const uint64_t header_size = 4 + 4 * ndims;
  const char* kind = ndims == 3 ? "IDX image" : "IDX label";
  auto be32 = [&](size_t at) {
    return uint32_t(header[at]) << 24 | uint32_t(header[at + 1]) << 16 |
           uint32_t(header[at + 2]) << 8 | uint32_t(header[at + 3]);
  };
  if (read_some(gz.f, header, header_size, path) != header_size || be32(0) != magic)
    throw Error(path + ": not an " + std::string(kind) + " file", "reinstall the dataset package");
  IdxFile out;
  int64_t payload = 1;
  for (size_t d = 0; d < ndims; ++d) {
    out.dims.push_back(int64_t(be32(4 + 4 * d)));
    if (!checked_mul(payload, out.dims.back(), payload))
      throw Error(path + ": header declares an impossible size (dimensions overflow)",
                  "the file is corrupted: reinstall the dataset package");
  }
  // What the file can hold: its own size if plain, at most 1032 times it if compressed.
  uint64_t limit = 0;
  if (!checked_mul(file_size, kMaxDeflateRatio, limit)) limit = UINT64_MAX;
  if (uint64_t(payload) > limit)
    throw Error(path + ": header declares " + std::to_string(payload) +
                    " bytes of data, more than a " + std::to_string(file_size) +
                    "-byte file can hold",
                "the file is corrupted or truncated: reinstall the dataset package");
  out.data.resize(size_t(payload));
  const uint64_t got = read_some(gz.f, out.data.data(), uint64_t(payload), path);
  uint8_t extra = 0;
  if (got != uint64_t(payload) || read_some(gz.f, &extra, 1, path) != 0)
    throw Error(path + ": " + (got != uint64_t(payload) ? "truncated" : "has trailing data") +
                    " (the header declares " + std::to_string(payload) + " bytes of data)",
                "reinstall the dataset package");
  return out;
}

FashionMnist::FashionMnist(const std::string& root, const std::string& split) : split_(split) {
  TANDEM_CHECK(split == "train" || split == "test",
               "Fashion-MNIST split must be 'train' or 'test', got '", split, "'");
  const std::string prefix = root + "/" + (split == "train" ? "train" : "t10k");
  const std::string image_path = prefix + "-images-idx3-ubyte.gz";
  const std::string label_path = prefix + "-labels-idx1-ubyte.gz";
  IdxFile img = read_idx(image_path, 0x803);
  IdxFile lab = read_idx(label_path, 0x801);
  const int64_t n = img.dims[0];
  rows_ = img.dims[1];
  cols_ = img.dims[2];
  TANDEM_CHECK(rows_ > 0 && cols_ > 0, image_path, ": images of ", rows_, "x", cols_, " pixels");
  TANDEM_CHECK(lab.dims[0] == n, label_path, ": ", lab.dims[0], " labels for ", n, " images in ",
               image_path);
  images_ = std::move(img.data);
  labels_ = std::move(lab.data);
  for (uint8_t l : labels_) TANDEM_CHECK(l < 10, label_path, ": label ", int(l), " out of range");
}

void FashionMnist::load(int64_t index, Example& out) const {
  const int64_t pixels = rows_ * cols_;
  const uint8_t* src = images_.data() + index * pixels;
  out.shape = {1, rows_, cols_};
  out.image.resize(size_t(pixels));
  // torchvision's ToTensor divides (img.float().div(255)); a multiplication by 1/255 differs in
  // the last bit for 126 of the 256 byte values.
  for (int64_t i = 0; i < pixels; ++i) out.image[size_t(i)] = float(src[i]) / 255.0f;
  out.label = labels_[size_t(index)];
  out.mask.clear();
}

}  // namespace tandem::data
