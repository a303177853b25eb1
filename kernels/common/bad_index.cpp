#include "kernels/common/bad_index.h"

namespace tandem::kernels {

std::string bad_index_message(BadIndexKind kind, int64_t value, int64_t size) {
  if (kind == BadIndexKind::Target) return detail::concat("Target ", value, " is out of bounds.");
  if (kind == BadIndexKind::MaxUnpool)
    return detail::concat("Found an invalid max index: ", value, " (output volumes are of size ",
                          size >> 32, "x", size & 0xffffffff);
  return detail::concat("index out of range in self (index ", value, " for a dim of size ", size,
                        ")");
}

void throw_reported_bad_index(BadIndexReport& report) {
  std::atomic_ref<int> raised(report.raised);
  if (raised.load(std::memory_order_acquire) == 0) return;
  if (raised.exchange(0, std::memory_order_acq_rel) == 0) return;  // another thread throws it
  const auto kind = BadIndexKind(report.kind);
  const int64_t value = report.value, size = report.size;
  std::atomic_ref<int>(report.claimed).store(0, std::memory_order_release);  // the next may report
  throw Error(bad_index_message(kind, value, size));
}

}  // namespace tandem::kernels
