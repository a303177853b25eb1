// What tandem's oneDNN primitives share (convolutions, conv_onednn.cpp; bfloat16 matmul,
// matmul_onednn.cpp): one CPU engine, one stream per thread, and the kernel-scratch slot their
// scratchpads live in. Only included where TANDEM_WITH_ONEDNN is set.
#pragma once

#include <array>
#include <oneapi/dnnl/dnnl.hpp>
#include <unordered_map>

namespace tandem::kernels::cpu {

// Never destroyed: a stream thread of the emulated device may still run a kernel at exit.
inline const dnnl::engine& onednn_engine() {
  static const auto& engine = *new dnnl::engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

// The calling thread's stream.
inline dnnl::stream& onednn_thread_stream() {
  thread_local dnnl::stream stream{onednn_engine()};
  return stream;
}

// The thread_scratch slot (kernels/cpu/scratch.h) of a primitive's scratchpad: a call holds it
// only while it runs. The convolutions' blocked operand copies use slots 0-2.
constexpr int kOnednnScratchpadSlot = 3;

// This thread's memory object for a descriptor that lives as long as the process (a cached plan's
// member, whose address is the key), pointed at `data`. Made on first use; afterwards a call only
// moves its data handle, so a steady-state call creates no oneDNN objects. Per thread, because
// the plans are shared by threads and a memory object holds one pointer.
inline dnnl::memory& onednn_thread_memory(const dnnl::memory::desc& md, void* data) {
  thread_local std::unordered_map<const dnnl::memory::desc*, dnnl::memory> memories;
  auto it = memories.find(&md);
  if (it == memories.end())
    it = memories.emplace(&md, dnnl::memory(md, onednn_engine(), DNNL_MEMORY_NONE)).first;
  it->second.set_data_handle(data);
  return it->second;
}

// Runs a primitive with a fixed argument array through oneDNN's C entry point (the C++
// wrapper's execute copies its std::unordered_map of arguments into a new std::vector per call).
template <size_t K>
void onednn_execute(const dnnl::primitive& primitive, dnnl::stream& stream,
                    const std::array<dnnl_exec_arg_t, K>& args, size_t count = K) {
  dnnl::error::wrap_c_api(
      dnnl_primitive_execute(primitive.get(), stream.get(), int(count), args.data()),
      "could not execute a oneDNN primitive");
}

}  // namespace tandem::kernels::cpu
