#include "kernels/common/bad_index.h"

namespace tandem::kernels {

std::string bad_index_message(BadIndexKind kind, int64_t value, int64_t size) {
  if (kind == BadIndexKind::Target) return detail::concat("Target ", value, " is out of bounds.");
  return detail::concat("index out of range in self (index ", value, " for a dim of size ", size,
                        ")");
}

}  // namespace tandem::kernels
