// oneDNN bfloat16 matmul (see matmul_onednn.h).
#include "kernels/cpu/matmul_onednn.h"

#if TANDEM_WITH_ONEDNN

#include <map>
#include <memory>
#include <mutex>
#include <oneapi/dnnl/dnnl.hpp>
#include <string_view>
#include <tuple>

#include "kernels/cpu/onednn_context.h"
#include "kernels/cpu/scratch.h"

namespace tandem::kernels::cpu {
namespace {

using dnnl::memory;

// A (batch, rows, cols) bfloat16 matrix stored row-major with leading dim `ld` (transposed:
// column-major) and batch stride `batch_stride`; a stride of 0 broadcasts one matrix.
memory::desc matrix(int64_t batch, int64_t batch_stride, int64_t rows, int64_t cols, int64_t ld,
                    bool transposed) {
  const int64_t b = batch_stride == 0 ? 1 : batch;
  const int64_t bs = batch_stride == 0 ? rows * cols : batch_stride;
  return memory::desc({b, rows, cols}, memory::data_type::bf16,
                      transposed ? memory::dims{bs, 1, ld} : memory::dims{bs, ld, 1});
}

struct MatmulPlan {
  dnnl::matmul primitive;
  memory::desc a, b, c, scratch;
  bool native = false;

  explicit MatmulPlan(const GemmShape& s) {
    a = matrix(s.batch, s.stride_a, s.m, s.k, s.lda, s.trans_a);
    b = matrix(s.batch, s.stride_b, s.k, s.n, s.ldb, s.trans_b);
    c = matrix(s.batch, s.stride_c, s.m, s.n, s.ldc, false);
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    if (s.alpha != 1) attr.set_output_scales(0, {float(s.alpha)});
    if (s.beta != 0) {
      dnnl::post_ops ops;
      ops.append_sum(float(s.beta));  // c = alpha * a @ b + beta * c, read as bfloat16
      attr.set_post_ops(ops);
    }
    const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a, b, c), attr, onednn_engine());
    primitive = dnnl::matmul(pd);
    scratch = pd.scratchpad_desc();
    native = std::string_view(pd.impl_info_str()).find("ref") == std::string_view::npos;
  }
};

using Key = std::tuple<bool, bool, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                       int64_t, int64_t, int64_t, double, double>;

Key key_of(const GemmShape& s) {
  return {s.trans_a, s.trans_b,  s.m,        s.n,        s.k,     s.lda,   s.ldb,
          s.ldc,     s.stride_a, s.stride_b, s.stride_c, s.batch, s.alpha, s.beta};
}

// The cached plan, or null when oneDNN has no primitive for the shape.
const MatmulPlan* plan_for(const GemmShape& s) {
  static std::mutex mutex;
  // Never destroyed, as every cache a kernel reads: a stream thread of the emulated device may
  // still run a kernel while the process exits.
  static auto& plans = *new std::map<Key, std::unique_ptr<MatmulPlan>>();  // null: refused
  std::lock_guard<std::mutex> lock(mutex);
  const Key key = key_of(s);
  auto it = plans.find(key);
  if (it == plans.end()) {
    std::unique_ptr<MatmulPlan> plan;
    try {
      plan = std::make_unique<MatmulPlan>(s);
    } catch (const dnnl::error&) {
      // no bf16 matmul here (no bf16 instructions, or an unsupported layout): the fallback runs
    }
    it = plans.emplace(key, std::move(plan)).first;
  }
  return it->second.get();
}

}  // namespace

bool onednn_bf16_gemm(const GemmShape& s) {
  if (s.m == 0 || s.n == 0 || s.k == 0 || s.batch == 0) return false;
  const MatmulPlan* p = plan_for(s);
  return p && p->native;
}

void onednn_bf16_gemm(const GemmShape& s, const void* a, const void* b, void* c) {
  const MatmulPlan& p = *plan_for(s);
  dnnl::stream& stream = onednn_thread_stream();
  onednn_execute<4>(
      p.primitive, stream,
      {{{DNNL_ARG_SRC, onednn_thread_memory(p.a, const_cast<void*>(a)).get()},
        {DNNL_ARG_WEIGHTS, onednn_thread_memory(p.b, const_cast<void*>(b)).get()},
        {DNNL_ARG_DST, onednn_thread_memory(p.c, c).get()},
        {DNNL_ARG_SCRATCHPAD, onednn_thread_memory(p.scratch, thread_scratch(kOnednnScratchpadSlot,
                                                                             p.scratch.get_size()))
                                  .get()}}});
  stream.wait();
}

}  // namespace tandem::kernels::cpu

#else  // !TANDEM_WITH_ONEDNN

#include "kernels/common/error.h"

namespace tandem::kernels::cpu {

bool onednn_bf16_gemm(const GemmShape&) { return false; }
void onednn_bf16_gemm(const GemmShape&, const void*, const void*, void*) {
  TANDEM_FAIL("oneDNN matmul: this build has no oneDNN (TANDEM_ONEDNN=OFF)");
}

}  // namespace tandem::kernels::cpu

#endif
