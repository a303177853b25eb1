// Opening cuBLASLt at first use (see cublaslt_library.h).
#include "kernels/cuda/cublaslt_library.h"

#include <cuda_runtime.h>  // defines: cudaRuntimeGetVersion (to find the runtime's folder)
#include <dlfcn.h>

#include <vector>

#include "kernels/common/error.h"
#include "kernels/common/library_version.h"  // defines: loaded_from

namespace tandem::kernels::cuda {

std::string cublaslt_soname() { return "libcublasLt.so." + std::to_string(CUBLAS_VER_MAJOR); }

CublasLt load_cublaslt(const std::string& soname) {
  void* handle = dlopen(soname.c_str(), RTLD_NOW | RTLD_LOCAL);
  std::string tried;
  if (!handle) tried = soname + " (" + dlerror() + ")";
  // A toolkit installed without an ld.so.cache entry: cuBLASLt usually sits next to the
  // runtime, else where it was at build time.
  std::vector<std::string> folders;
  const std::string runtime = loaded_from(&cudaRuntimeGetVersion);
  if (const size_t slash = runtime.rfind('/'); slash != std::string::npos)
    folders.push_back(runtime.substr(0, slash));
#ifdef TANDEM_CUBLASLT_DIR
  folders.push_back(TANDEM_CUBLASLT_DIR);
#endif
  for (size_t i = 0; !handle && i < folders.size(); ++i) {
    if (i > 0 && folders[i] == folders[0]) continue;
    const std::string path = folders[i] + "/" + soname;
    handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle) tried += ", " + path + " (" + dlerror() + ")";
  }
  if (!handle)
    throw Error("cuBLASLt, which tandem's CUDA matrix products call, could not be loaded: tried " +
                tried + "; install CUDA's cuBLAS or add its folder to LD_LIBRARY_PATH");
  CublasLt lt;
#define TANDEM_CUBLASLT_RESOLVE(name)                                     \
  lt.name = reinterpret_cast<decltype(lt.name)>(dlsym(handle, #name));    \
  if (!lt.name)                                                           \
    throw Error(std::string("cuBLASLt: ") + soname +                      \
                " has no function " #name " (an older cuBLAS than the " + \
                std::to_string(CUBLAS_VER_MAJOR) +                        \
                ".x tandem "                                              \
                "was built with?)");
  TANDEM_CUBLASLT_FUNCTIONS(TANDEM_CUBLASLT_RESOLVE)
#undef TANDEM_CUBLASLT_RESOLVE
  lt.path = loaded_from(reinterpret_cast<const void*>(lt.cublasLtGetVersion));
  return lt;
}

const CublasLt& cublaslt() {
  static const CublasLt lt = load_cublaslt(cublaslt_soname());
  return lt;
}

}  // namespace tandem::kernels::cuda
