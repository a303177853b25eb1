// Fashion-MNIST from the IDX .gz files of Debian's dataset-fashion-mnist package (default root
// /usr/share/datasets/fashion-mnist), read with zlib. A missing file is an error that names it
// and the package to install.
#pragma once

#include <memory>
#include <vector>

#include "framework/data/dataset.h"

namespace tandem::data {

inline constexpr const char* kFashionMnistRoot = "/usr/share/datasets/fashion-mnist";

class FashionMnist : public Dataset {
 public:
  // split: "train" (60000 examples) or "test" (10000).
  FashionMnist(const std::string& root, const std::string& split);
  int64_t size() const override { return int64_t(labels_.size()); }
  int64_t num_classes() const override { return 10; }
  void load(int64_t index, Example& out) const override;
  std::string name() const override { return "fashion_mnist/" + split_; }

 private:
  std::string split_;
  int64_t rows_ = 0, cols_ = 0;
  std::vector<uint8_t> images_;
  std::vector<uint8_t> labels_;
};

// An IDX file (gzip-compressed or plain): its dimensions and its bytes.
struct IdxFile {
  std::vector<int64_t> dims;
  std::vector<uint8_t> data;
};
// Reads an IDX file whose magic number is `magic` (0x803: images n x rows x cols, 0x801: labels
// n). The header's sizes are multiplied without overflow and checked against what the file can
// hold (a gzip member expands at most 1032-fold) before anything is allocated, and the data
// must end exactly where the header says. Errors name the path.
IdxFile read_idx(const std::string& path, uint32_t magic);

}  // namespace tandem::data
