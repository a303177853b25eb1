// What tandem's oneDNN primitives share (convolutions, conv_onednn.cpp; bfloat16 matmul,
// matmul_onednn.cpp): one CPU engine, one stream per thread, and the kernel-scratch slot their
// scratchpads live in. Only included where TANDEM_WITH_ONEDNN is set.
#pragma once

#include <oneapi/dnnl/dnnl.hpp>

namespace tandem::kernels::cpu {

inline const dnnl::engine& onednn_engine() {
  static const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
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

}  // namespace tandem::kernels::cpu
