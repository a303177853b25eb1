// The CPU build PyTorch runs on this machine (see aten_cpu_path.h).
#include "framework/tensor/aten_cpu_path.h"

#include <cstdlib>
#include <cstring>

namespace tandem {

bool cpu_has_avx2_and_fma() {
#if defined(__x86_64__) && defined(__GNUC__)
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return has;
#else
  return false;  // ATen's AVX2 kernels exist only on x86
#endif
}

AtenCpuPath pytorch_cpu_path() {
  static const AtenCpuPath path = [] {
    const char* capability = std::getenv("ATEN_CPU_CAPABILITY");
    if (capability && std::strcmp(capability, "default") == 0) return AtenCpuPath::Default;
    return cpu_has_avx2_and_fma() ? AtenCpuPath::Avx2 : AtenCpuPath::Default;
  }();
  return path;
}

}  // namespace tandem
