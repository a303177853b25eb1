// Indices a kernel reads from a tensor (nll_loss's targets, index_select's indices) are checked
// where they are read, by the kernel, so that checking them never makes the host wait for the
// device.
//   - On the host (CPU kernels, and the emulated device, which runs them) a bad index throws
//     tandem::Error at once. On the CPU that is the op's call; the emulated device's streams report
//     a kernel's exception at the next synchronisation of its stream.
//   - In a CUDA kernel the first bad index is written to a BadIndexReport in mapped host memory
//     (kernels/cuda/bad_index_report.h), the element is skipped, and the runtime throws the same
//     message at the host's next wait for a stream or the device (reading the loss, copying to the
//     CPU). PyTorch stops the kernel with a device-side assert instead, after which its CUDA
//     context is unusable; here the process carries on, and the error names the index.
// Ops downstream of a bad index on the device (the backward of nll_loss and index_select) skip
// out-of-range indices rather than write outside their output.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "kernels/common/error.h"
#include "kernels/common/host_device.h"

namespace tandem::kernels {

enum class BadIndexKind : int {
  Target = 1,  // nll_loss / cross_entropy: a target that is no class (and not ignore_index)
  Index = 2,   // index_select: an index outside the dim
  // max_unpool2d: an index outside the output plane; the size is unpool_plane(h, w), the plane's
  // height and width in one number, as PyTorch's message names both.
  MaxUnpool = 3,
};

TANDEM_HD int64_t unpool_plane(int64_t h, int64_t w) { return (h << 32) | w; }

// The first bad index a CUDA kernel found since the host last looked. `claimed` is taken by one
// thread; `raised` is set once the fields are written, and is what the host reads.
struct BadIndexReport {
  int claimed;
  int raised;
  int kind;
  int64_t value;
  int64_t size;  // the number of classes, or the dim's size
};

// PyTorch's wording: "Target 5 is out of bounds.", "index out of range in self", the latter
// with the index and the dim's size, and "Found an invalid max index: 9 (output volumes are of
// size 2x2" (sic: PyTorch's has no closing parenthesis).
std::string bad_index_message(BadIndexKind kind, int64_t value, int64_t size);

TANDEM_HD bool index_in_range(int64_t i, int64_t size) { return i >= 0 && i < size; }

// Reports a bad index. With a report (CUDA kernels, which cannot throw) the first bad index is
// recorded there and the caller skips the element; without one (CPU kernels pass nullptr) it
// throws. The host's recording path is the device's with std::atomic_ref: tests/cuda_on_host runs
// the CUDA kernels, report and all, on the CPU.
TANDEM_HD void report_bad_index(BadIndexReport* report, BadIndexKind kind, int64_t value,
                                int64_t size) {
#if defined(__CUDA_ARCH__)
  // System scope: the report is host memory that every GPU of the process writes.
  if (atomicCAS_system(&report->claimed, 0, 1) != 0) return;  // another thread's report stands
  report->kind = int(kind);
  report->value = value;
  report->size = size;
  __threadfence_system();  // the fields reach the host before the flag
  atomicExch_system(&report->raised, 1);
#else
  if (report == nullptr) throw Error(bad_index_message(kind, value, size));
  int unclaimed = 0;
  if (!std::atomic_ref<int>(report->claimed).compare_exchange_strong(unclaimed, 1)) return;
  report->kind = int(kind);
  report->value = value;
  report->size = size;
  std::atomic_ref<int>(report->raised).store(1, std::memory_order_release);
#endif
}

// Throws the bad index `report` holds, if a kernel has recorded one, and clears it: one load when
// none has. A bad index recorded while this clears the report (between its two stores) is lost;
// the one being thrown is not.
void throw_reported_bad_index(BadIndexReport& report);

}  // namespace tandem::kernels
