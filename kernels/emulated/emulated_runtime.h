// The emulated CUDA device: a DeviceRuntime served by host memory, for machines without a GPU
// (CI, laptops). Everything around the kernels runs for real: the caching allocator, streams,
// events and copies keep their bookkeeping; the kernels are the CPU kernels
// (kernels/emulated/emulated_kernel.h).
//
// Device pointers are tagged: the host address with bits 48-55 set to 0xA0 | device, which is
// not a canonical x86-64 address (nor a valid one under AArch64's top-byte-ignore), so host code
// that reads device memory directly crashes in CI as it would on a GPU, instead of working by
// accident. Only the emulated kernels and copies untag them.
//
// Environment: TANDEM_EMULATE_CUDA=N (number of devices, 1..16) selects it at run time;
// TANDEM_EMULATED_MEMORY_MB (default 4096) is each device's capacity, so out-of-memory paths
// can be tested. Each stream runs its work on its own thread, after the call that queued it has
// returned, as a GPU does (emulated_stream.h), so a missing synchronisation gives wrong results in
// CI; TANDEM_EMULATED_STREAMS=sync runs work at once on the calling thread instead (a kernel's
// error is then thrown at its call).
#pragma once

#include <cstdint>
#include <functional>

#include "kernels/device/runtime.h"

namespace tandem::kernels::emulated {

constexpr int kMaxDevices = 16;

// The emulated runtime with `devices` devices (created on first use; later calls ignore the
// argument).
device::DeviceRuntime& runtime(int devices);

// The tagged device address of host address `p` on `device`, and back. host_address throws when
// `p` is not an emulated device pointer (a host pointer given to a device kernel or copy).
void* device_address(void* p, int device);
void* host_address(const void* p);
bool is_device_address(const void* p);
int device_of(const void* p);

// Whether streams run their work on their own threads (unless TANDEM_EMULATED_STREAMS=sync).
bool streams_are_async();
// Queues `work` (an emulated kernel) on `stream`: it runs after everything queued there before.
void enqueue(device::StreamHandle stream, std::function<void()> work);

}  // namespace tandem::kernels::emulated
