#include "kernels/cpu/scratch.h"

#include <cstdlib>
#include <memory>

#include "kernels/common/error.h"

namespace tandem::kernels::cpu {

namespace {

struct FreeAligned {
  void operator()(std::byte* p) const { std::free(p); }
};

struct ScratchBuffer {
  std::unique_ptr<std::byte, FreeAligned> data;
  size_t capacity = 0;
};

}  // namespace

void* thread_scratch(int slot, size_t bytes) {
  TANDEM_CHECK(slot >= 0 && slot < kScratchSlots, "thread_scratch: no slot ", slot);
  thread_local ScratchBuffer buffers[kScratchSlots];
  ScratchBuffer& b = buffers[slot];
  if (bytes > b.capacity) {
    const size_t rounded = (bytes + 63) / 64 * 64;
    b.data.reset();  // the old contents are not kept: free first, so the peak stays lower
    b.data.reset(static_cast<std::byte*>(std::aligned_alloc(64, rounded)));
    b.capacity = b.data ? rounded : 0;
    TANDEM_CHECK(b.data != nullptr, "out of memory for ", bytes, " bytes of kernel scratch");
  }
  return b.data.get();
}

}  // namespace tandem::kernels::cpu
