// Prediction on image files (see predict_images.h).
#include "launch/predict_images.h"

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "framework/autograd/grad_mode.h"
#include "framework/data/image_codec.h"
#include "framework/data/image_files.h"
#include "framework/io/atomic_write.h"
#include "framework/ops/ops.h"
#include "framework/tensor/factories.h"
#include "launch/training_setup.h"

namespace tandem::launch {
namespace fs = std::filesystem;
namespace {

// The images to predict, and for each the path its mask takes under an output folder.
struct Inputs {
  std::vector<std::string> files;
  std::vector<std::string> relative;  // to the input folder (the file name for one file)
};

Inputs list_inputs(const std::string& input) {
  Inputs in;
  if (fs::is_directory(input)) {
    in.files = data::walk_sorted(input, data::has_decodable_extension);
    const fs::path root(input);
    for (const auto& f : in.files) in.relative.push_back(fs::path(f).lexically_relative(root));
    if (in.files.empty())
      throw Error(input + " holds no JPEG or PNG image", "tandem predict reads .jpg, .jpeg, .png");
  } else {
    in.files = {input};
    in.relative = {fs::path(input).filename().string()};
  }
  return in;
}

data::ColorMode input_color_mode(const RunConfig& cfg) {
  const std::string& d = cfg.data.dataset;
  if (d == "fashion_mnist" || d == "fashion_mnist_segmentation" || cfg.data.color_mode == "gray")
    return data::ColorMode::Gray;
  return data::ColorMode::RGB;
}

// The argmax of (1, classes, H, W) logits as an 8-bit single-channel image.
data::Image mask_image(const Tensor& logits, const std::string& file) {
  TANDEM_CHECK(logits.size(1) <= 256, "tandem predict: ", file,
               ": a PNG mask holds class indices "
               "up to 255, the model predicts ",
               logits.size(1), " classes");
  const Tensor classes = argmax(logits, 1).cpu().contiguous();
  data::Image mask;
  mask.height = logits.size(2);
  mask.width = logits.size(3);
  mask.channels = 1;
  mask.pixels.resize(size_t(mask.height * mask.width));
  const int64_t* c = classes.data_ptr<int64_t>();
  for (size_t i = 0; i < mask.pixels.size(); ++i) mask.pixels[i] = uint8_t(c[i]);
  return mask;
}

}  // namespace

bool is_image_input(const std::string& path) {
  return fs::is_directory(path) || data::has_image_extension(path);
}

int64_t predict_images(nn::Module& model, const RunConfig& cfg, Device device,
                       const std::string& input, const std::string& output) {
  const Inputs in = list_inputs(input);
  const auto transforms = make_transforms(cfg, /*train=*/false);
  const data::ColorMode mode = input_color_mode(cfg);
  const bool single_png = !fs::is_directory(input) && fs::path(output).extension() == ".png";
  NoGradGuard no_grad;
  model.eval();
  Generator unused_gen(uint64_t(cfg.seed));  // evaluation transforms draw nothing
  nlohmann::ordered_json predictions = nlohmann::ordered_json::array();
  bool segmentation = false;
  data::Example example;
  for (size_t i = 0; i < in.files.size(); ++i) {
    const std::string& file = in.files[i];
    data::image_to_example(data::read_image(file, mode), example);
    transforms->apply(example, unused_gen);
    Shape shape = example.shape;
    shape.insert(shape.begin(), 1);
    const Tensor x = from_vector(example.image, shape).to(device);
    const Tensor logits = forward_batch(model, x);
    if (logits.dim() == 4) {
      segmentation = true;
      fs::path target = single_png
                            ? fs::path(output)
                            : fs::path(output) / fs::path(in.relative[i]).replace_extension(".png");
      if (target.has_parent_path()) fs::create_directories(target.parent_path());
      data::write_png(target.string(), mask_image(logits, file));
      continue;
    }
    TANDEM_CHECK(logits.dim() == 2 && logits.size(0) == 1, "tandem predict: ", file,
                 ": the model gives ", shape_str(logits.sizes()),
                 "; expected (1, classes) logits or (1, classes, H, W) per-pixel logits");
    const Tensor probs = softmax(logits, 1).cpu().contiguous();
    const int64_t k = argmax(probs, 1).item<int64_t>();
    predictions.push_back(
        {{"file", file}, {"class", k}, {"probability", double(probs.data_ptr<float>()[k])}});
  }
  if (!segmentation) {
    nlohmann::ordered_json j;
    j["predictions"] = predictions;
    io::atomic_write_file(output, j.dump(1) + "\n");
  }
  return int64_t(in.files.size());
}

}  // namespace tandem::launch
