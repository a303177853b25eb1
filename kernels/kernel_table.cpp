// Definitions of the kernel families declared in kernel_table.h. Each is constant-initialised
// (constinit), so backends can register into it from any translation unit's static
// initialisation without an order problem.
#include "kernels/kernel_table.h"

#define TANDEM_DEFINE_KERNEL(family) \
  constinit decltype(family) family { #family }

namespace tandem::kernels {

TANDEM_DEFINE_KERNEL(unary);
TANDEM_DEFINE_KERNEL(binary);
TANDEM_DEFINE_KERNEL(compare);
TANDEM_DEFINE_KERNEL(where);
TANDEM_DEFINE_KERNEL(copy);
TANDEM_DEFINE_KERNEL(fill);
TANDEM_DEFINE_KERNEL(sum_reduce);
TANDEM_DEFINE_KERNEL(max_reduce);
TANDEM_DEFINE_KERNEL(max_along);
TANDEM_DEFINE_KERNEL(gemm);
TANDEM_DEFINE_KERNEL(conv2d_forward);
TANDEM_DEFINE_KERNEL(conv2d_backward_input);
TANDEM_DEFINE_KERNEL(conv2d_backward_weight);
TANDEM_DEFINE_KERNEL(max_pool2d_forward);
TANDEM_DEFINE_KERNEL(max_pool2d_backward);
TANDEM_DEFINE_KERNEL(avg_pool2d_forward);
TANDEM_DEFINE_KERNEL(avg_pool2d_backward);
TANDEM_DEFINE_KERNEL(adaptive_avg_pool2d_forward);
TANDEM_DEFINE_KERNEL(adaptive_avg_pool2d_backward);
TANDEM_DEFINE_KERNEL(adaptive_max_pool2d_forward);
TANDEM_DEFINE_KERNEL(adaptive_max_pool2d_backward);
TANDEM_DEFINE_KERNEL(max_unpool2d_forward);
TANDEM_DEFINE_KERNEL(max_unpool2d_backward);
TANDEM_DEFINE_KERNEL(upsample_nearest2d_forward);
TANDEM_DEFINE_KERNEL(upsample_nearest2d_backward);
TANDEM_DEFINE_KERNEL(upsample_bilinear2d_forward);
TANDEM_DEFINE_KERNEL(upsample_bilinear2d_backward);
TANDEM_DEFINE_KERNEL(upsample_nearest_exact2d_forward);
TANDEM_DEFINE_KERNEL(upsample_nearest_exact2d_backward);
TANDEM_DEFINE_KERNEL(upsample_bicubic2d_forward);
TANDEM_DEFINE_KERNEL(upsample_bicubic2d_backward);
TANDEM_DEFINE_KERNEL(batch_norm_stats);
TANDEM_DEFINE_KERNEL(batch_norm_apply);
TANDEM_DEFINE_KERNEL(batch_norm_backward);
TANDEM_DEFINE_KERNEL(group_norm_forward);
TANDEM_DEFINE_KERNEL(group_norm_backward);
TANDEM_DEFINE_KERNEL(softmax_forward);
TANDEM_DEFINE_KERNEL(softmax_backward);
TANDEM_DEFINE_KERNEL(nll_forward);
TANDEM_DEFINE_KERNEL(nll_backward);
TANDEM_DEFINE_KERNEL(index_select);
TANDEM_DEFINE_KERNEL(index_add);
TANDEM_DEFINE_KERNEL(scatter_along);
TANDEM_DEFINE_KERNEL(sgd_step);
TANDEM_DEFINE_KERNEL(adam_step);
TANDEM_DEFINE_KERNEL(unscale_and_check);

}  // namespace tandem::kernels
