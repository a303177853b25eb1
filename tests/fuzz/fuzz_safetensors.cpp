// libFuzzer target: the safetensors parser must reject any malformed input with tandem::Error.
#include <cstddef>
#include <cstdint>

#include "framework/io/safetensors.h"
#include "kernels/common/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    tandem::io::parse_safetensors(data, size, "fuzz.safetensors");
  } catch (const tandem::Error&) {
  }
  return 0;
}
