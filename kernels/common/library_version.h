// One third-party library's version twice: as tandem was built with it (its header's macros) and
// as the process runs with it (asked from the loaded library), with the file it was loaded from.
// `tandem --version` prints these; they differ when a GPU machine brings its own CUDA libraries.
#pragma once

#include <dlfcn.h>  // defines: dladdr (and dlopen, dlsym for the probes)

#include <string>

namespace tandem::kernels {

struct LibraryVersion {
  std::string name;      // "cuDNN"
  std::string built;     // "9.19.0"; "-" when the library has no build-time version (the driver)
  std::string running;   // "9.19.0", or why it is not known ("not built in", "no driver")
  std::string location;  // the shared object the running library was loaded from; "" if unknown
};

// "13.1.0" from 13, 1, 0.
inline std::string dotted(int major, int minor, int patch) {
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch);
}

// The file holding `symbol` (a function of the library), as the dynamic loader found it; "" for a
// symbol linked statically into the executable.
inline std::string loaded_from(const void* symbol) {
  Dl_info info{};
  if (!dladdr(symbol, &info) || !info.dli_fname) return "";
  std::string path = info.dli_fname;
  // The main program reports its own path (or an empty name): the library was linked statically.
  Dl_info self{};
  if (dladdr(reinterpret_cast<const void*>(&loaded_from), &self) && self.dli_fname &&
      path == self.dli_fname)
    return "";
  return path;
}
template <class R, class... A>
std::string loaded_from(R (*function)(A...)) {
  return loaded_from(reinterpret_cast<const void*>(function));
}

}  // namespace tandem::kernels
