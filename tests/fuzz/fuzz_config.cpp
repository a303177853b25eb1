// libFuzzer target: YAML run configs through parse_config (the path of `tandem train` and of the
// config stored in a checkpoint): a RunConfig or a tandem::Error, within the alias and nesting
// budgets, never a crash or an exception of another type (which would exit 1).
#include <cstddef>
#include <cstdint>
#include <string>

#include "kernels/common/error.h"
#include "launch/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    tandem::launch::parse_config(std::string(reinterpret_cast<const char*>(data), size),
                                 "fuzz.yaml");
  } catch (const tandem::Error&) {
  }
  return 0;
}
