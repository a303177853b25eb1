// libFuzzer target: whole .pt files (zip container + pickle + storages) through load_torch.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <string>

#include "framework/io/torch_file.h"
#include "kernels/common/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = "/tmp/tandem_fuzz_" + std::to_string(::getpid()) + ".pt";
  {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(data), std::streamsize(size));
  }
  try {
    tandem::io::load_torch(path);
  } catch (const tandem::Error&) {
  }
  return 0;
}
