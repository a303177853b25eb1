// libFuzzer target: YAML run configs through parse_config (the path of `tandem train` and of the
// config stored in a checkpoint): a RunConfig or a tandem::Error, within the alias and nesting
// budgets, never a crash or an exception of another type (which would exit 1). The bytes up to
// the first NUL are the file; each NUL-separated piece after it is one --set override.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/common/error.h"
#include "launch/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  size_t end = input.find('\0');
  const std::string text = input.substr(0, end);
  std::vector<std::string> overrides;
  while (end != std::string::npos && overrides.size() < 16) {
    const size_t next = input.find('\0', end + 1);
    overrides.push_back(input.substr(end + 1, next == std::string::npos ? next : next - end - 1));
    end = next;
  }
  try {
    tandem::launch::parse_config(text, "fuzz.yaml", overrides);
  } catch (const tandem::Error&) {
  }
  return 0;
}
