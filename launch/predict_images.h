// `tandem predict` on image files: each JPEG or PNG (a file, or every image under a folder in
// torchvision's order) is decoded as the run's data were (data.color_mode; Fashion-MNIST runs
// take grayscale), passed through data.val_transforms and the model in eval mode, one image at a
// time so images of different sizes need no batching. What is written depends on the model:
//
//   segmentation ((1, classes, H, W) logits): a PNG of class indices per image, the argmax of
//     each pixel (what read_image(..., ColorMode::Index) and PIL's np.array(Image.open()) read
//     back), at the model's output size; OUT is a folder (images keep their relative path, with
//     .png), or a .png file for a single input image;
//   classification ((1, classes) logits): OUT is a JSON file {"predictions": [{"file", "class",
//     "probability"}, ...]} with the softmax probability of the predicted class.
#pragma once

#include <string>

#include "framework/nn/module.h"
#include "launch/config.h"

namespace tandem::launch {

// Whether `path` is an image file or a folder (what predict_images takes) rather than a
// safetensors batch.
bool is_image_input(const std::string& path);

// Returns the number of images predicted.
int64_t predict_images(nn::Module& model, const RunConfig& cfg, Device device,
                       const std::string& input, const std::string& output);

}  // namespace tandem::launch
