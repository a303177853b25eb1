// libFuzzer target: the .npy parser must reject any malformed input with tandem::Error; the header
// length and the shape's byte count are checked against the input before anything is copied.
#include <cstddef>
#include <cstdint>

#include "framework/io/npy.h"
#include "kernels/common/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    tandem::io::parse_npy(data, size, "fuzz.npy");
  } catch (const tandem::Error&) {
  }
  return 0;
}
