// The `gemm` kernel family on real GPUs: one cublasLtMatmul per call (batched by strided
// layouts), the row-major problem mapped to cuBLASLt's column-major one by
// kernels/common/gemm_plan.h. Descriptors, layouts and the heuristic's algorithm are built once
// per distinct problem and cached; the workspace comes from the caching allocator on the call's
// stream, so a steady-state step makes no device malloc. float32 computes in float32 unless
// TF32 is allowed (kernels/common/math_options.h); float64 in float64; float16/bfloat16 (for
// mixed precision) in float32.
#include <cublasLt.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <mutex>
#include <tuple>
#include <utility>

#include "kernels/common/gemm_plan.h"
#include "kernels/common/math_options.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/cublaslt_library.h"
#include "kernels/cuda/descriptor.h"
#include "kernels/device/caching_allocator.h"
#include "kernels/device/context.h"
#include "kernels/kernel_table.h"

namespace tandem::kernels::cuda {
namespace {

constexpr size_t kWorkspaceBytes = size_t(32) << 20;  // Hopper's kernels like 32 MiB

struct TypeInfo {
  cudaDataType_t data;
  cublasComputeType_t compute;
  cudaDataType_t scale;
};

TypeInfo type_info(DType t, bool allow_tf32) {
  switch (t) {
    case DType::Float32:
      return {CUDA_R_32F, allow_tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F,
              CUDA_R_32F};
    case DType::Float64:
      return {CUDA_R_64F, CUBLAS_COMPUTE_64F, CUDA_R_64F};
    case DType::Float16:
      return {CUDA_R_16F, CUBLAS_COMPUTE_32F, CUDA_R_32F};
    case DType::BFloat16:
      return {CUDA_R_16BF, CUBLAS_COMPUTE_32F, CUDA_R_32F};
    default:
      throw Error(std::string("matmul: the CUDA GEMM takes floating-point tensors, got ") +
                  dtype_name(t));
  }
}

// The largest power of two (up to 256) dividing an address: algorithms needing more are excluded.
uint32_t alignment_of(const void* p, int64_t batch_stride, size_t element) {
  uintptr_t bits = reinterpret_cast<uintptr_t>(p) | uintptr_t(256);
  if (batch_stride != 0) bits |= uintptr_t(batch_stride) * element;
  return uint32_t(bits & (~bits + 1));
}

struct PlanKey {
  int device;
  DType dtype;
  bool tf32;
  bool trans_a, trans_b;
  int64_t m, n, k, lda, ldb, ldc, stride_a, stride_b, stride_c, batch;
  uint32_t align_a, align_b, align_c;
  auto tie() const {
    return std::tie(device, dtype, tf32, trans_a, trans_b, m, n, k, lda, ldb, ldc, stride_a,
                    stride_b, stride_c, batch, align_a, align_b, align_c);
  }
  bool operator<(const PlanKey& o) const { return tie() < o.tie(); }
};

// Descriptor's destroy functions: cuBLASLt's, through the library opened at first use.
cublasStatus_t destroy_layout(cublasLtMatrixLayout_t h) {
  return cublaslt().cublasLtMatrixLayoutDestroy(h);
}
cublasStatus_t destroy_matmul_desc(cublasLtMatmulDesc_t h) {
  return cublaslt().cublasLtMatmulDescDestroy(h);
}
cublasStatus_t destroy_preference(cublasLtMatmulPreference_t h) {
  return cublaslt().cublasLtMatmulPreferenceDestroy(h);
}

using Layout = Descriptor<cublasLtMatrixLayout_t, destroy_layout>;

// cuBLASLt's descriptors for one problem, and the algorithm its heuristic chose.
struct Plan {
  Descriptor<cublasLtMatmulDesc_t, destroy_matmul_desc> desc;
  Layout a, b, c;
  cublasLtMatmulAlgo_t algo{};
  size_t workspace = 0;
};

Layout make_layout(cudaDataType_t type, int64_t rows, int64_t cols, int64_t ld, int64_t batch,
                   int64_t stride) {
  const CublasLt& lt = cublaslt();
  Layout layout;
  TANDEM_CUDA_CHECK(
      lt.cublasLtMatrixLayoutCreate(layout.out(), type, uint64_t(rows), uint64_t(cols), ld));
  if (batch > 1) {
    const int32_t count = int32_t(batch);
    TANDEM_CUDA_CHECK(lt.cublasLtMatrixLayoutSetAttribute(
        layout, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count, sizeof(count)));
    TANDEM_CUDA_CHECK(lt.cublasLtMatrixLayoutSetAttribute(
        layout, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof(stride)));
  }
  return layout;
}

class GemmCache {
 public:
  cublasLtHandle_t handle(int device) {
    std::lock_guard<std::mutex> lock(mutex_);
    cublasLtHandle_t& h = handles_[device];
    if (!h) {
      device::DeviceGuard guard(device);  // a handle belongs to the device current at creation
      TANDEM_CUDA_CHECK(cublaslt().cublasLtCreate(&h));
    }
    return h;
  }

  const Plan& plan(const PlanKey& key, const ColumnMajorGemm& g, cublasLtHandle_t handle) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = plans_.find(key);
    if (it != plans_.end()) return it->second;
    const CublasLt& lt = cublaslt();
    const TypeInfo t = type_info(key.dtype, key.tf32);
    Plan p;
    TANDEM_CUDA_CHECK(lt.cublasLtMatmulDescCreate(p.desc.out(), t.compute, t.scale));
    const cublasOperation_t op_a = g.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
    const cublasOperation_t op_b = g.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
    TANDEM_CUDA_CHECK(lt.cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSA, &op_a,
                                                        sizeof(op_a)));
    TANDEM_CUDA_CHECK(lt.cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSB, &op_b,
                                                        sizeof(op_b)));
    p.a = make_layout(t.data, g.a_rows, g.a_cols, g.lda, g.batch, g.stride_a);
    p.b = make_layout(t.data, g.b_rows, g.b_cols, g.ldb, g.batch, g.stride_b);
    p.c = make_layout(t.data, g.m, g.n, g.ldc, g.batch, g.stride_c);
    Descriptor<cublasLtMatmulPreference_t, destroy_preference> pref;
    TANDEM_CUDA_CHECK(lt.cublasLtMatmulPreferenceCreate(pref.out()));
    const uint64_t ws = kWorkspaceBytes;
    TANDEM_CUDA_CHECK(lt.cublasLtMatmulPreferenceSetAttribute(
        pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws)));
    // D is C (the product is written in place), so it has C's alignment; left unset, cuBLASLt
    // assumes 256 bytes for D and may pick an algorithm that cannot run on an offset C.
    const uint32_t aligns[4] = {key.align_a, key.align_b, key.align_c, key.align_c};
    const cublasLtMatmulPreferenceAttributes_t align_attrs[4] = {
        CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
        CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES};
    for (int i = 0; i < 4; ++i)
      TANDEM_CUDA_CHECK(lt.cublasLtMatmulPreferenceSetAttribute(pref, align_attrs[i], &aligns[i],
                                                                sizeof(uint32_t)));
    cublasLtMatmulHeuristicResult_t result{};
    int found = 0;
    TANDEM_CUDA_CHECK(lt.cublasLtMatmulAlgoGetHeuristic(handle, p.desc, p.a, p.b, p.c, p.c, pref, 1,
                                                        &result, &found));
    if (found == 0)
      throw Error("matmul: cuBLASLt has no algorithm for a " + std::to_string(g.m) + "x" +
                  std::to_string(g.n) + "x" + std::to_string(g.k) + " " + dtype_name(key.dtype) +
                  " product (batch " + std::to_string(g.batch) + ")");
    p.algo = result.algo;
    p.workspace = result.workspaceSize;
    return plans_.emplace(key, std::move(p)).first->second;
  }

 private:
  std::mutex mutex_;
  std::map<int, cublasLtHandle_t> handles_;
  std::map<PlanKey, Plan> plans_;  // never freed: a handful of shapes per run
};

GemmCache& cache() {
  static GemmCache* c = new GemmCache();
  return *c;
}

// A product with an empty inner dim is beta * C, as BLAS defines it: C kept (beta 1) or zeroed
// (beta 0, the rows of each batch cleared at their leading dim). Other betas are not asked for.
void scale_without_product(const KernelContext& ctx, const GemmShape& s, const Buffer& c) {
  if (s.beta == 1) return;
  TANDEM_CHECK(s.beta == 0, "matmul: an empty inner dimension with beta ", s.beta,
               " (only 0 or 1) on CUDA");
  const size_t el = element_size(c.dtype);
  for (int64_t i = 0; i < s.batch; ++i)
    TANDEM_CUDA_CHECK(cudaMemset2DAsync(static_cast<char*>(c.data) + size_t(i * s.stride_c) * el,
                                        size_t(std::max(s.ldc, s.n)) * el, 0, size_t(s.n) * el,
                                        size_t(s.m), static_cast<cudaStream_t>(ctx.stream)));
}

void gemm_cuda(const KernelContext& ctx, const GemmShape& shape, const Buffer& a, const Buffer& b,
               const Buffer& c) {
  if (shape.m == 0 || shape.n == 0 || shape.batch == 0) return;
  if (shape.k == 0) return scale_without_product(ctx, shape, c);  // cuBLASLt needs k >= 1
  ColumnMajorGemm g = column_major_gemm(shape);
  TANDEM_CHECK(normalize_leading_dims(g), "matmul: a strided operand cuBLAS cannot read (",
               "leading dimensions ", shape.lda, ", ", shape.ldb, ", ", shape.ldc, ")");
  // The column-major a is the row-major b, and the reverse.
  const void* ptr_a = b.data;
  const void* ptr_b = a.data;
  const size_t el = element_size(c.dtype);
  const MathOptions math = math_options();
  const PlanKey key{ctx.device.index,
                    c.dtype,
                    c.dtype == DType::Float32 && math.allow_tf32,
                    g.trans_a,
                    g.trans_b,
                    g.m,
                    g.n,
                    g.k,
                    g.lda,
                    g.ldb,
                    g.ldc,
                    g.stride_a,
                    g.stride_b,
                    g.stride_c,
                    g.batch,
                    alignment_of(ptr_a, g.stride_a, el),
                    alignment_of(ptr_b, g.stride_b, el),
                    alignment_of(c.data, g.stride_c, el)};
  GemmCache& gc = cache();
  cublasLtHandle_t handle = gc.handle(ctx.device.index);
  const Plan& p = gc.plan(key, g, handle);
  auto& allocator = device::device_allocator();
  void* workspace =
      p.workspace ? allocator.allocate(p.workspace, ctx.device.index, ctx.stream) : nullptr;
  // alpha/beta in the scale type, on the host.
  const bool f64 = c.dtype == DType::Float64;
  const float alpha_f = float(shape.alpha), beta_f = float(shape.beta);
  const double alpha_d = shape.alpha, beta_d = shape.beta;
  const void* alpha = f64 ? static_cast<const void*>(&alpha_d) : &alpha_f;
  const void* beta = f64 ? static_cast<const void*>(&beta_d) : &beta_f;
  const cublasStatus_t st = cublaslt().cublasLtMatmul(
      handle, p.desc, alpha, ptr_a, p.a, ptr_b, p.b, beta, c.data, p.c, c.data, p.c, &p.algo,
      workspace, p.workspace, static_cast<cudaStream_t>(ctx.stream));
  // Freed at once: the block returns to this stream's pool, so its next user is ordered after.
  if (workspace) allocator.free(workspace);
  TANDEM_CUDA_CHECK(st);
}

}  // namespace

TANDEM_REGISTER_CUDA_KERNEL(gemm, gemm_cuda);

}  // namespace tandem::kernels::cuda
