// Masks from Fashion-MNIST images by thresholding (see fashion_mnist_segmentation.h).
#include "framework/data/fashion_mnist_segmentation.h"

#include "kernels/common/error.h"

namespace tandem::data {

FashionMnistSegmentation::FashionMnistSegmentation(const std::string& root,
                                                   const std::string& split, float threshold)
    : items_(root, split == "val" ? std::string("test") : split),
      split_(split),
      threshold_(threshold) {
  TANDEM_CHECK(threshold >= 0.0f && threshold < 1.0f,
               "fashion_mnist_segmentation: the mask threshold must be in [0, 1), got ", threshold);
}

void FashionMnistSegmentation::load(int64_t index, Example& out) const {
  items_.load(index, out);  // the image in [0, 1] and the item's class
  out.mask_height = out.height();
  out.mask_width = out.width();
  out.mask.resize(out.image.size());
  const int64_t foreground = out.label + 1;
  for (size_t i = 0; i < out.image.size(); ++i)
    out.mask[i] = out.image[i] > threshold_ ? foreground : 0;
}

}  // namespace tandem::data
