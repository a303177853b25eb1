// Process-wide memory policy for training processes.
//
// A training step allocates and frees the same large blocks (activations, gradients, im2col
// columns) every iteration. glibc serves blocks above its mmap threshold with fresh mmaps and
// gives freed heap tops back to the kernel, so each step page-faults its working set in again
// (measured: 20% of a CNN step in the kernel's page-fault path; 64 ms a step, 35 ms with this).
// Keeping freed memory in the process makes the steady state reuse it; the peak footprint is
// unchanged (the memory stays at the step's peak instead of being returned and faulted in again).
// Tensors' storage now comes from the CPU caching allocator (kernels/cpu/caching_allocator.h),
// which keeps its blocks itself; this policy still serves everything else the process allocates
// (libraries' workspaces, the blocks the cache gives back past its limit).
#pragma once

namespace tandem {

// Serve allocations up to 32 MiB (glibc's limit) from the heap, and keep freed heap memory
// mapped (up to 2 GiB at the top of the heap) instead of returning it to the kernel.
// Call once at start-up of a process that trains (the tandem executable and the benchmarks do);
// a library embedding tandem may leave the allocator as it is.
void retain_freed_memory();

}  // namespace tandem
