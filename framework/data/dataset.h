// Dataset: indexed examples, each an input and its target (a class label, or a per-pixel class
// mask for segmentation). Examples are kept in their compact stored form (uint8 pixels, encoded
// files, a memory-mapped tensor file) and loaded on request into an Example whose buffers the
// caller reuses. Random transforms are not the dataset's business: the loader applies them, with
// a generator seeded per example, after load().
#pragma once

#include <cstdint>
#include <string>

#include "framework/data/example.h"

namespace tandem::data {

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual int64_t size() const = 0;
  virtual int64_t num_classes() const = 0;
  // Loads example `index` (0 <= index < size()) into `out`, reusing its buffers.
  virtual void load(int64_t index, Example& out) const = 0;
  // "fashion_mnist/train", "image_folder:/data/pets/train": names the dataset in messages.
  virtual std::string name() const = 0;
  // What example `index` is, for error messages: its file where it has one.
  virtual std::string describe(int64_t index) const {
    return name() + "[" + std::to_string(index) + "]";
  }
  // Whether examples carry per-pixel masks (segmentation) instead of a class label.
  virtual bool segmentation() const { return false; }
};

}  // namespace tandem::data
