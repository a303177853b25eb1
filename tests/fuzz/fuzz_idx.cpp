// libFuzzer target: IDX files (plain or gzip) through read_idx: sizes from the header are
// checked against the file before anything is allocated, so any input is data or an Error.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <string>

#include "kernels/common/error.h"
#include "framework/data/fashion_mnist.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = "/tmp/tandem_fuzz_" + std::to_string(::getpid()) + ".idx";
  {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(data), std::streamsize(size));
  }
  for (uint32_t magic : {0x803u, 0x801u}) {
    try {
      tandem::data::read_idx(path, magic);
    } catch (const tandem::Error&) {
    }
  }
  return 0;
}
