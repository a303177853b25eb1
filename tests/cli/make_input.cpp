// Test inputs for the CLI scripts:
//   tandem_make_input OUT.safetensors        a tensor "input" of 3 synthetic 1x8x8 examples, for
//                                            the `tandem predict` check in resume.sh;
//   tandem_make_input --tensor-files DIR     DIR/train.safetensors (40 examples) and
//                                            DIR/val.safetensors (12) with uint8 `images`
//                                            (N, 1, 8, 8) and int64 `labels`, a tensor_files
//                                            dataset for segmentation.sh (the label is which
//                                            quarter of the image is bright).
#include <string>

#include "framework/io/safetensors.h"
#include "framework/tensor/factories.h"

namespace {

void write_split(const std::string& path, int64_t n, tandem::Generator& gen) {
  tandem::Tensor images = (tandem::rand({n, 1, 8, 8}, gen) * 60.0).to(tandem::DType::UInt8);
  tandem::Tensor labels = tandem::zeros({n}, tandem::TensorOptions(tandem::DType::Int64));
  uint8_t* px = images.data_ptr<uint8_t>();
  int64_t* y = labels.data_ptr<int64_t>();
  for (int64_t i = 0; i < n; ++i) {
    y[i] = i % 4;
    for (int64_t r = 0; r < 4; ++r)
      for (int64_t c = 0; c < 4; ++c)
        px[i * 64 + (r + 4 * (y[i] / 2)) * 8 + c + 4 * (y[i] % 2)] += 180;
  }
  tandem::io::TensorMap m;
  m.insert("images", images);
  m.insert("labels", labels);
  tandem::io::save_safetensors(path, m);
}

}  // namespace

int main(int argc, char** argv) {
  tandem::Generator gen(5);
  if (argc == 3 && std::string(argv[1]) == "--tensor-files") {
    write_split(std::string(argv[2]) + "/train.safetensors", 40, gen);
    write_split(std::string(argv[2]) + "/val.safetensors", 12, gen);
    return 0;
  }
  if (argc != 2) return 2;
  tandem::io::TensorMap m;
  m.insert("input", tandem::rand({3, 1, 8, 8}, gen));
  tandem::io::save_safetensors(argv[1], m);
  return 0;
}
