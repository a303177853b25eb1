// The process's BadIndexReport (kernels/common/bad_index.h), where CUDA kernels record the first
// bad index they read: in mapped, portable page-locked host memory, so a kernel on any device
// writes it and the host reads it without a copy. The CUDA runtime looks at it after each wait
// for a stream or the device, which is when the host next needs a result anyway.
#pragma once

#include "kernels/common/bad_index.h"

namespace tandem::kernels::cuda {

// The report's device address, for a kernel's argument (allocated at the first call).
BadIndexReport* bad_index_report();

// Throws the reported bad index's error and clears the report, if a kernel has reported one
// (kernels::throw_reported_bad_index). The report is the process's, as CUDA's sticky errors are:
// the next wait on any thread throws it.
void throw_reported_bad_index();

}  // namespace tandem::kernels::cuda
