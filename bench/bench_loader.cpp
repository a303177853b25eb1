// The DataLoader alone on a folder of images: images/s of decoding (libjpeg-turbo, libpng), the
// transforms and batching, for bench/loader.sh to set beside torchvision's DataLoader on the same
// folder, transforms and worker count.
//
//   bench_loader SPLIT_DIR WORKERS BATCH EPOCHS train|val
//
// train: RandomResizedCrop(224), RandomHorizontalFlip, Normalize (ImageNet's training
// pipeline); val: Resize(256), CenterCrop(224), Normalize. The first epoch warms up (page cache,
// buffers) and is not counted. Prints "images_per_s N".
#include <chrono>
#include <cstdio>
#include <numeric>
#include <string>

#include "framework/data/data_loader.h"
#include "framework/data/image_folder.h"
#include "framework/io/value_json.h"

using namespace tandem;

int main(int argc, char** argv) {
  if (argc != 6) {
    std::fprintf(stderr, "usage: bench_loader SPLIT_DIR WORKERS BATCH EPOCHS train|val\n");
    return 2;
  }
  const std::string dir = argv[1], mode = argv[5];
  const int64_t workers = std::stoll(argv[2]), batch = std::stoll(argv[3]);
  const int64_t epochs = std::stoll(argv[4]);
  const std::string normalize =
      R"({"normalize": {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}})";
  const std::string list =
      mode == "train" ? R"([{"randomresizedcrop": 224}, "randomhorizontalflip", )" + normalize + "]"
                      : R"([{"resize": 256}, {"centercrop": 224}, )" + normalize + "]";
  try {
    auto dataset = std::make_shared<data::ImageFolder>(dir);
    data::LoaderOptions opts;
    opts.batch_size = batch;
    opts.workers = workers;
    opts.transforms = std::make_shared<data::TransformPipeline>(
        data::parse_transforms(io::value_from_json(list, {}, "bench"), "transforms"));
    data::DataLoader loader(dataset, opts);
    std::vector<int64_t> order(size_t(dataset->size()));
    std::iota(order.begin(), order.end(), 0);
    double seconds = 0;
    int64_t images = 0;
    for (int64_t e = 0; e <= epochs; ++e) {
      const auto start = std::chrono::steady_clock::now();
      loader.start_epoch(order, e);
      data::Batch b;
      int64_t n = 0;
      while (loader.next(b)) n += b.inputs.size(0);
      const double s =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (e == 0) continue;  // warm-up
      seconds += s;
      images += n;
    }
    std::printf("images_per_s %.1f\n", double(images) / seconds);
  } catch (const Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  }
  return 0;
}
