// The `gemm` kernel family on real GPUs: one cublasLtMatmul per call (batched by strided
// layouts), the row-major problem mapped to cuBLASLt's column-major one by
// kernels/common/gemm_plan.h. Descriptors, layouts and the heuristic's algorithm are built once
// per distinct problem and cached; the workspace comes from the caching allocator on the call's
// stream, so a steady-state step makes no device malloc. float32 computes in float32 unless
// TF32 is allowed (kernels/common/math_options.h); float64 in float64; float16/bfloat16 (for
// mixed precision) in float32. A layout the heuristic has no algorithm for (a misaligned view)
// runs on packed, aligned copies of its operands.
#include <cublasLt.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <mutex>
#include <tuple>
#include <utility>
#include <vector>

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
  bool found = false;  // false: the heuristic had no algorithm for this layout
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
    p.found = found > 0;
    if (p.found) {
      p.algo = result.algo;
      p.workspace = result.workspaceSize;
    }
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

PlanKey plan_key(int device, DType dtype, const ColumnMajorGemm& g, const void* a, const void* b,
                 const void* c) {
  const size_t el = element_size(dtype);
  return PlanKey{device,
                 dtype,
                 dtype == DType::Float32 && math_options().allow_tf32,
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
                 alignment_of(a, g.stride_a, el),
                 alignment_of(b, g.stride_b, el),
                 alignment_of(c, g.stride_c, el)};
}

// One cublasLtMatmul of a planned problem; alpha and beta in the scale type, on the host.
void run_plan(const KernelContext& ctx, cublasLtHandle_t handle, const Plan& p, DType dtype,
              double alpha, double beta, const void* a, const void* b, void* c) {
  auto& allocator = device::device_allocator();
  void* workspace =
      p.workspace ? allocator.allocate(p.workspace, ctx.device.index, ctx.stream) : nullptr;
  const bool f64 = dtype == DType::Float64;
  const float alpha_f = float(alpha), beta_f = float(beta);
  const void* alpha_p = f64 ? static_cast<const void*>(&alpha) : &alpha_f;
  const void* beta_p = f64 ? static_cast<const void*>(&beta) : &beta_f;
  const cublasStatus_t st = cublaslt().cublasLtMatmul(
      handle, p.desc, alpha_p, a, p.a, b, p.b, beta_p, c, p.c, c, p.c, &p.algo, workspace,
      p.workspace, static_cast<cudaStream_t>(ctx.stream));
  // Freed at once: the block returns to this stream's pool, so its next user is ordered after.
  if (workspace) allocator.free(workspace);
  TANDEM_CUDA_CHECK(st);
}

void copy_matrices(const KernelContext& ctx, const std::vector<MatrixCopy>& copies, const void* src,
                   void* dst, size_t el) {
  for (const MatrixCopy& m : copies)
    TANDEM_CUDA_CHECK(cudaMemcpy2DAsync(
        static_cast<char*>(dst) + size_t(m.dst_offset) * el, size_t(m.dst_ld) * el,
        static_cast<const char*>(src) + size_t(m.src_offset) * el, size_t(m.src_ld) * el,
        size_t(m.width) * el, size_t(m.height), cudaMemcpyDeviceToDevice,
        static_cast<cudaStream_t>(ctx.stream)));
}

[[noreturn]] void no_algorithm(const ColumnMajorGemm& g, DType dtype) {
  throw Error("matmul: cuBLASLt has no algorithm for a " + std::to_string(g.m) + "x" +
              std::to_string(g.n) + "x" + std::to_string(g.k) + " " + dtype_name(dtype) +
              " product (batch " + std::to_string(g.batch) + "), even on packed copies");
}

// The product on packed, aligned copies of the operands (kernels/common/gemm_plan.h), for a
// layout cuBLASLt's heuristic had no algorithm for. Rare (a misaligned view), so the copies are
// made per call rather than cached.
void gemm_on_packed_copies(const KernelContext& ctx, cublasLtHandle_t handle,
                           const ColumnMajorGemm& g, const GemmShape& shape, const void* a,
                           const void* b, const Buffer& c) {
  const size_t el = element_size(c.dtype);
  const PackedGemm packed = packed_gemm(g, el);
  auto& allocator = device::device_allocator();
  const int dev = ctx.device.index;
  void* pa = allocator.allocate(size_t(packed.a.elements) * el, dev, ctx.stream);
  void* pb = allocator.allocate(size_t(packed.b.elements) * el, dev, ctx.stream);
  void* pc = allocator.allocate(size_t(packed.c.elements) * el, dev, ctx.stream);
  try {
    const Plan& p =
        cache().plan(plan_key(dev, c.dtype, packed.gemm, pa, pb, pc), packed.gemm, handle);
    if (!p.found) no_algorithm(g, c.dtype);
    copy_matrices(ctx, pack_copies(g.a_rows, g.a_cols, g.lda, g.stride_a, g.batch, packed.a), a, pa,
                  el);
    copy_matrices(ctx, pack_copies(g.b_rows, g.b_cols, g.ldb, g.stride_b, g.batch, packed.b), b, pb,
                  el);
    const std::vector<MatrixCopy> c_copies =
        pack_copies(g.m, g.n, g.ldc, g.stride_c, g.batch, packed.c);
    if (shape.beta != 0) copy_matrices(ctx, c_copies, c.data, pc, el);
    run_plan(ctx, handle, p, c.dtype, shape.alpha, shape.beta, pa, pb, pc);
    std::vector<MatrixCopy> back;
    back.reserve(c_copies.size());
    for (const MatrixCopy& m : c_copies) back.push_back(reversed(m));
    copy_matrices(ctx, back, pc, c.data, el);
  } catch (...) {
    for (void* q : {pa, pb, pc}) allocator.free(q);
    throw;
  }
  // Stream-ordered frees: later users of these blocks on this stream run after the copies.
  for (void* q : {pa, pb, pc}) allocator.free(q);
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
  GemmCache& gc = cache();
  cublasLtHandle_t handle = gc.handle(ctx.device.index);
  const Plan& p = gc.plan(plan_key(ctx.device.index, c.dtype, g, ptr_a, ptr_b, c.data), g, handle);
  if (!p.found) return gemm_on_packed_copies(ctx, handle, g, shape, ptr_a, ptr_b, c);
  run_plan(ctx, handle, p, c.dtype, shape.alpha, shape.beta, ptr_a, ptr_b, c.data);
}

}  // namespace

TANDEM_REGISTER_CUDA_KERNEL(gemm, gemm_cuda);

}  // namespace tandem::kernels::cuda
