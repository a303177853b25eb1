// Which op classes autocast casts, and to what, per device type: PyTorch's lists for the ops
// tandem has.
//   CPU: PyTorch 1.13's AutocastCPU (aten/src/ATen/autocast_mode.cpp, the KERNEL_CPU entries),
//        checked op by op against torch.autocast("cpu", torch.bfloat16) by
//        tests/fixtures/make_autocast.py: conv and the matrix products in bfloat16, the
//        losses and (in 1.13) conv_transpose in float32, everything else in its input's type.
//   CUDA: PyTorch's AutocastCUDA lists ("Autocast Op Reference" in the torch.amp
//        documentation): conv, conv_transpose and the matrix products in the lower precision;
//        softmax, log_softmax, the losses, sum, exp, log, pow, layer_norm and group_norm in
//        float32 (on the CPU, 1.13 keeps the last two in their input's type).
// cat, stack and mixed-type elementwise ops promote on both without autocast's help.
#include "framework/ops/autocast.h"

namespace tandem::autocast {

Cast policy(DeviceType device, OpClass op) {
  const bool cuda = device == DeviceType::CUDA;
  switch (op) {
    case OpClass::Matmul:
    case OpClass::Conv:
      return Cast::LowerPrecision;
    case OpClass::ConvTranspose:
      return cuda ? Cast::LowerPrecision : Cast::Float32;
    case OpClass::Loss:
      return Cast::Float32;
    case OpClass::Softmax:
    case OpClass::Reduction:
    case OpClass::Transcendental:
    case OpClass::Normalization:
      return cuda ? Cast::Float32 : Cast::Keep;
  }
  return Cast::Keep;
}

}  // namespace tandem::autocast
