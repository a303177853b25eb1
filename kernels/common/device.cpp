// Device parsing and printing.
#include "kernels/common/device.h"

#include "kernels/common/error.h"

namespace tandem {

Device::Device(const std::string& spec) {
  if (spec == "cpu") {
    type = DeviceType::CPU;
    index = 0;
    return;
  }
  if (spec.rfind("cuda", 0) == 0) {
    type = DeviceType::CUDA;
    index = 0;
    if (spec.size() > 4) {
      TANDEM_CHECK(spec[4] == ':' && spec.size() > 5, "invalid device string '", spec, "'");
      try {
        index = std::stoi(spec.substr(5));
      } catch (...) {
        TANDEM_FAIL("invalid device string '", spec, "'");
      }
      TANDEM_CHECK(index >= 0, "invalid device string '", spec, "'");
    }
    return;
  }
  throw Error("invalid device string '" + spec + "'", "use cpu, cuda or cuda:N");
}

std::string Device::str() const {
  return is_cpu() ? std::string("cpu") : "cuda:" + std::to_string(index);
}

}  // namespace tandem
