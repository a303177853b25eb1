// float32 convolution through oneDNN (the library PyTorch's CPU convolutions use), for the shapes
// where it beats im2col + OpenBLAS (kernels/cpu/conv.cpp decides). Tensors stay NCHW in
// tandem; oneDNN picks its blocked layouts and the reorders to and from them are part of the
// call. Primitives are built once per shape and cached; every buffer they need (blocked copies,
// scratchpad) is reused from call to call, so a training step allocates nothing here.
#pragma once

#include "kernels/common/kernel_params.h"
#include "kernels/common/library_version.h"  // defines: LibraryVersion

namespace tandem::kernels::cpu {

// True when this build has oneDNN (TANDEM_WITH_ONEDNN).
bool onednn_available();
// For `tandem --version`: the headers' version, and the loaded library's with the instruction set
// its jit kernels use on this CPU ("not built in" without oneDNN).
LibraryVersion onednn_version();

// y = conv(x, w) + bias (bias may be null). NCHW x and y, OIHW w, all contiguous float32.
void onednn_conv2d_forward(const Conv2dShape& s, const float* x, const float* w, const float* bias,
                           float* y);
// grad_x = the input-gradient of the convolution (overwritten, not accumulated).
void onednn_conv2d_backward_input(const Conv2dShape& s, const float* grad_y, const float* w,
                                  float* grad_x);
// grad_w = the weight-gradient of the convolution (overwritten, not accumulated).
void onednn_conv2d_backward_weight(const Conv2dShape& s, const float* x, const float* grad_y,
                                   float* grad_w);

}  // namespace tandem::kernels::cpu
