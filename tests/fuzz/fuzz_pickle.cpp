// libFuzzer target: the restricted unpickler must reject any input outside its subset with
// tandem::Error, never crash, and never run anything. Storages resolve to a few zero bytes.
#include <cstddef>
#include <cstdint>
#include <string>

#include "framework/io/torch_file.h"
#include "kernels/common/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    tandem::io::unpickle(
        std::string(reinterpret_cast<const char*>(data), size),
        [](const std::string& key) { return std::string(key.size() % 16 * 4, '\0'); }, "fuzz.pkl");
  } catch (const tandem::Error&) {
  }
  return 0;
}
