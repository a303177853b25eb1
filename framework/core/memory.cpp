// Process-wide memory policy (see memory.h).
#include "framework/core/memory.h"

#include <malloc.h>

namespace tandem {

void retain_freed_memory() {
  // glibc refuses mmap thresholds above 32 MiB on 64-bit; fixing the thresholds also turns off
  // its dynamic adjustment of them.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 0x7fffffff);
}

}  // namespace tandem
