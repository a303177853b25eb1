// cuBLASLt, opened on first use (dlopen) instead of linked. Its initialisers run when the loader
// maps it and cost about 0.3 s of CPU and 200 MB of resident memory: linked, every process that
// loads tandem paid that at start, CPU runs, each rank of an `mpirun` and each test included, GPU
// or not. Opened lazily, only a process that multiplies matrices on a GPU (or prints
// `tandem --version`) pays it.
//
//   const CublasLt& lt = cublaslt();          // loads once; throws tandem::Error if it cannot
//   TANDEM_CUDA_CHECK(lt.cublasLtCreate(&handle));
//
// The members carry NVIDIA's names and prototypes (from <cublasLt.h>), so a call reads as the
// library's documentation does.
#pragma once

#include <cublasLt.h>

#include <string>

namespace tandem::kernels::cuda {

// Every cuBLASLt function tandem calls.
#define TANDEM_CUBLASLT_FUNCTIONS(X)                                                             \
  X(cublasLtCreate)                                                                              \
  X(cublasLtGetVersion)                                                                          \
  X(cublasLtGetProperty)                                                                         \
  X(cublasLtGetStatusString) X(cublasLtMatmul) X(cublasLtMatmulAlgoGetHeuristic)                 \
      X(cublasLtMatmulDescCreate) X(cublasLtMatmulDescDestroy) X(cublasLtMatmulDescSetAttribute) \
          X(cublasLtMatmulPreferenceCreate) X(cublasLtMatmulPreferenceDestroy)                   \
              X(cublasLtMatmulPreferenceSetAttribute) X(cublasLtMatrixLayoutCreate)              \
                  X(cublasLtMatrixLayoutDestroy) X(cublasLtMatrixLayoutSetAttribute)

struct CublasLt {
#define TANDEM_CUBLASLT_MEMBER(name) decltype(&::name) name = nullptr;
  TANDEM_CUBLASLT_FUNCTIONS(TANDEM_CUBLASLT_MEMBER)
#undef TANDEM_CUBLASLT_MEMBER
  std::string path;  // the file the loader opened
};

// The library tandem was built against: "libcublasLt.so.13".
std::string cublaslt_soname();

// Opens `soname` (the loader's search: LD_LIBRARY_PATH, RUNPATH, ld.so.cache; then the folder the
// CUDA runtime was loaded from, then cuBLASLt's folder at build time) and resolves every function;
// throws tandem::Error naming the file, the function and the loader's message. Never closed.
// Separate from cublaslt() for tests.
CublasLt load_cublaslt(const std::string& soname);

// The process's cuBLASLt, loaded on the first call (thread-safe; a failed load is retried).
const CublasLt& cublaslt();

}  // namespace tandem::kernels::cuda
