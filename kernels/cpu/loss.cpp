// CPU negative log-likelihood over (n, c, inner) log-probabilities with int64 targets (n, inner):
// an ignored target contributes nothing and has weight 0; a target that is no class throws
// (kernels/common/bad_index.h).
#include "kernels/common/row_functors.h"
#include "kernels/cpu/register.h"

namespace tandem::kernels::cpu {

template <typename T>
void nll_forward(const T* lp, const int64_t* target, const T* weight, int64_t n, int64_t c,
                 int64_t inner, int64_t ignore_index, T* loss, T* sample_weight) {
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < inner; ++j) {
      const int64_t s = i * inner + j;
      nll_sample(lp + i * c * inner + j, inner, c, target[s], weight, ignore_index, nullptr,
                 loss[s], sample_weight[s]);
    }
}

template <typename T>
void nll_backward(const T* grad, const int64_t* target, const T* weight, int64_t n, int64_t c,
                  int64_t inner, int64_t ignore_index, T* grad_in) {
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < inner; ++j) {
      const int64_t s = i * inner + j;
      const int64_t t = target[s];
      if (!nll_counts(t, c, ignore_index)) continue;
      grad_in[(i * c + t) * inner + j] = -(weight ? weight[t] : T(1)) * grad[s];
    }
}

void nll_forward_cpu(const KernelContext&, const ClassLayout& l, int64_t ignore_index,
                     const Buffer& log_probs, const Buffer& target, const Buffer& weight,
                     const Buffer& loss, const Buffer& sample_weight) {
  dispatch_floating(log_probs.dtype, "nll_loss", [&](auto tag) {
    using T = typename decltype(tag)::type;
    nll_forward<T>(log_probs.as<const T>(), target.as<const int64_t>(), weight.as<const T>(), l.n,
                   l.c, l.inner, ignore_index, loss.as<T>(), sample_weight.as<T>());
  });
}

void nll_backward_cpu(const KernelContext&, const ClassLayout& l, int64_t ignore_index,
                      const Buffer& grad, const Buffer& target, const Buffer& weight,
                      const Buffer& grad_in) {
  dispatch_floating(grad.dtype, "nll_loss_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    nll_backward<T>(grad.as<const T>(), target.as<const int64_t>(), weight.as<const T>(), l.n, l.c,
                    l.inner, ignore_index, grad_in.as<T>());
  });
}

TANDEM_REGISTER_CPU_KERNEL(nll_forward, nll_forward_cpu);
TANDEM_REGISTER_CPU_KERNEL(nll_backward, nll_backward_cpu);

}  // namespace tandem::kernels::cpu
