// Pieces the transform files share (not part of the public API): the shape check, the padded
// window copy of an image and its mask, and the number formats of describe().
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "framework/data/example.h"
#include "framework/data/transforms.h"

namespace tandem::data::detail {

// Throws unless `ex` is a (C, H, W) image whose mask, if any, is H x W; `what` names the
// transform.
void check_image(const Example& ex, const char* what);
// Replaces the image (and mask) by its window (y0, x0, h, w); positions outside the image take
// `fill` (the mask `mask_fill`), or mirror or repeat the image as `mode` says, as torchvision's
// pad-then-crop gives. Reflect needs the window to reach at most H - 1 (W - 1) rows (columns)
// past the image, symmetric and edge at most H (W): torch's pad checks the same.
void crop_example(Example& ex, int64_t y0, int64_t x0, int64_t h, int64_t w, float fill,
                  int64_t mask_fill, PaddingMode mode = PaddingMode::Constant);

std::string number_text(double v);                       // "%g": 0.5, 1e-05
std::string list_text(const std::vector<int64_t>& v);    // "[224, 224]"
std::string numbers_text(const std::vector<double>& v);  // "[0.08, 1]"

}  // namespace tandem::data::detail
