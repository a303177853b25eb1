// The CPU build PyTorch runs on this machine (see aten_cpu_path.h).
#include "framework/tensor/aten_cpu_path.h"

#include <cstdlib>
#include <cstring>

#include "kernels/cpu/isa.h"

namespace tandem {

AtenCpuPath pytorch_cpu_path() {
  static const AtenCpuPath path = [] {
    const char* capability = std::getenv("ATEN_CPU_CAPABILITY");
    if (capability && std::strcmp(capability, "default") == 0) return AtenCpuPath::Default;
    return kernels::cpu::cpu_has_avx2_fma() ? AtenCpuPath::Avx2 : AtenCpuPath::Default;
  }();
  return path;
}

}  // namespace tandem
