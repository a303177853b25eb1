// float32 and bfloat16 convolution through oneDNN (the library PyTorch's CPU convolutions use), for
// the shapes where it beats im2col + OpenBLAS (kernels/cpu/conv.cpp decides). Tensors stay NCHW in
// tandem; oneDNN picks its blocked layouts and the reorders to and from them are part of the
// call. Primitives are built once per shape and cached; every buffer they need (blocked copies,
// scratchpad) is reused from call to call, so a training step allocates nothing here.
#pragma once

#include "kernels/common/dtype.h"
#include "kernels/common/kernel_params.h"
#include "kernels/common/library_version.h"  // defines: LibraryVersion

namespace tandem::kernels::cpu {

// True when this build has oneDNN (TANDEM_WITH_ONEDNN).
bool onednn_available();
// For `tandem --version`: the headers' version, and the loaded library's with the instruction set
// its jit kernels use on this CPU ("not built in" without oneDNN).
LibraryVersion onednn_version();

// Whether oneDNN runs bfloat16 convolutions of this shape natively: the CPU has bf16
// instructions (AVX512_BF16, AMX) and none of the shape's three primitives is oneDNN's reference
// implementation. The answer is cached with the shape's plans.
bool onednn_bf16_convolution(const Conv2dShape& s);

// y = conv(x, w) + bias (bias may be null). NCHW x and y, OIHW w, all contiguous, all of
// `dtype` (float32, or bfloat16 where onednn_bf16_convolution; accumulation in float).
void onednn_conv2d_forward(const Conv2dShape& s, DType dtype, const void* x, const void* w,
                           const void* bias, void* y);
// grad_x = the input-gradient of the convolution (overwritten, not accumulated).
void onednn_conv2d_backward_input(const Conv2dShape& s, DType dtype, const void* grad_y,
                                  const void* w, void* grad_x);
// grad_w = the weight-gradient of the convolution (overwritten, not accumulated).
void onednn_conv2d_backward_weight(const Conv2dShape& s, DType dtype, const void* x,
                                   const void* grad_y, void* grad_w);

}  // namespace tandem::kernels::cpu
