// tandem's half of the GPU benchmarks (issue 13, "Benchmarks (bench/gpu/)"): one JSON object per
// line on stdout, which bench/gpu/run.sh puts beside torch_gpu_baseline.py's numbers for the same
// cases on the same GPU.
//   gemm         TFLOP/s of tandem's matmul on cuda tensors (fp32, tf32, bf16) and, on the same
//                buffers, of cuBLAS called directly (cublasGemmEx, cublasLtMatmul): the ceiling
//   conv2d       ms and TFLOP/s of conv2d forward, and forward + backward, ResNet-like 3x3 shapes
//   elementwise  GB/s (bytes read + bytes written) of add, relu and a broadcast add, against a
//                device-to-device copy moving as many bytes (cudaMemcpyAsync): the ceiling
//   train        images/s of a training step (zero_grad, forward, cross_entropy, backward, SGD
//                step) of the CNN of configs/fashion_mnist_cnn.yaml, built as the trainer builds
//                it, and of resnet18 (batch 256, 3x32x32, 10 classes)
// Timing: CUDA events on the device's compute stream around batches of calls, after a warm-up;
// the median over repeats. Inputs are cut from a pool of random normals (never zeros) and
// rotated so that the input sets of small problems together exceed the L2 cache.
//
// Without a CUDA device it prints "no CUDA device: <reason>" and exits 0. Under
// TANDEM_EMULATE_CUDA it runs tiny sizes on the emulated device with a host clock and without
// the direct cuBLAS calls: that proves the code paths, not speed.
//
// Knobs (environment, shared with torch_gpu_baseline.py; defaults in parentheses, the emulated
// device's in brackets):
//   TANDEM_BENCH_SECTIONS      gemm,conv2d,elementwise,train
//   TANDEM_BENCH_GEMM_SIZES    square sizes (1024,4096,8192) [64,96]
//   TANDEM_BENCH_GEMM_DTYPES   fp32,tf32,bf16
//   TANDEM_BENCH_CONV          N,C,Co,H,W[,stride] cases, ';'-separated
//                              (64,64,64,56,56;64,128,128,28,28;64,256,256,14,14) [2,4,8,8,8]
//   TANDEM_BENCH_ELEMENTS      elements per elementwise operand (268435456) [65536]
//   TANDEM_BENCH_RESNET_BATCH  resnet18's batch (256) [2]
//   TANDEM_BENCH_STEPS         timed training steps per repeat (20) [2]
//   TANDEM_BENCH_TRAIN_REPEATS timed repeats of those steps, the median reported (3) [2]
//   TANDEM_BENCH_REPEATS       timed batches of calls, the median reported (7) [2]
//   TANDEM_BENCH_WARMUP        untimed calls (training steps) first (3) [1]
//   TANDEM_BENCH_TARGET_MS     device time per timed batch of calls (2) [0: one call]
//   TANDEM_BENCH_DETERMINISTIC 1: deterministic algorithms only, tandem's default (1)
//   TANDEM_BENCH_CNN_CONFIG    the CNN's config (configs/fashion_mnist_cnn.yaml, looked for in
//                              $TANDEM_BUNDLE/configs, next to the binary and in the source tree)
//   TANDEM_BENCH_DEADLINE      seconds after which the remaining cases are skipped (0: none)
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "framework/autograd/grad_mode.h"
#include "framework/core/memory.h"
#include "framework/nn/models/builder.h"
#include "framework/ops/ops.h"
#include "framework/optim/factory.h"
#include "kernels/common/math_options.h"
#include "kernels/cuda/library_versions.h"
#include "kernels/device/context.h"
#include "kernels/device/runtime.h"
#include "launch/config.h"
#include "launch/training_setup.h"

#if TANDEM_WITH_CUDA
#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "kernels/cuda/check.h"
#endif

using namespace tandem;
namespace device = tandem::kernels::device;
using Clock = std::chrono::steady_clock;

namespace {

// --- knobs ------------------------------------------------------------------------------------

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : fallback;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, sep))
    if (!item.empty()) out.push_back(item);
  return out;
}

int64_t to_int(const std::string& s, const char* what) {
  char* end = nullptr;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  if (end == s.c_str() || *end != '\0')
    throw Error(std::string(what) + ": '" + s + "' is no integer");
  return v;
}

struct ConvCase {
  int64_t N, C, Co, H, W, stride;
};

struct Knobs {
  std::vector<std::string> sections;
  std::vector<int64_t> gemm_sizes;
  std::vector<std::string> gemm_dtypes;
  std::vector<ConvCase> convs;
  int64_t elements = 0;
  int64_t resnet_batch = 0;
  int64_t steps = 0, train_repeats = 0, repeats = 0, warmup = 0;
  double target_ms = 0;
  bool deterministic = true;
  double deadline_s = 0;
  std::string cnn_config;

  bool wants(const std::string& section) const {
    return std::find(sections.begin(), sections.end(), section) != sections.end();
  }
};

std::string find_cnn_config() {
  const std::string name = "fashion_mnist_cnn.yaml";
  std::vector<std::filesystem::path> candidates;
  if (const char* b = std::getenv("TANDEM_BUNDLE"))
    candidates.emplace_back(std::string(b) + "/configs");
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) candidates.push_back(exe.parent_path().parent_path() / "configs");  // bundle: bench/..
  candidates.emplace_back(TANDEM_SOURCE_DIR "/configs");
  for (const auto& dir : candidates)
    if (std::filesystem::exists(dir / name, ec)) return (dir / name).string();
  return TANDEM_SOURCE_DIR "/configs/" + name;  // the error then names where it looked last
}

Knobs read_knobs(bool emulated) {
  Knobs k;
  k.sections = split(env_or("TANDEM_BENCH_SECTIONS", "gemm,conv2d,elementwise,train"), ',');
  for (const auto& s :
       split(env_or("TANDEM_BENCH_GEMM_SIZES", emulated ? "64,96" : "1024,4096,8192"), ','))
    k.gemm_sizes.push_back(to_int(s, "TANDEM_BENCH_GEMM_SIZES"));
  k.gemm_dtypes = split(env_or("TANDEM_BENCH_GEMM_DTYPES", "fp32,tf32,bf16"), ',');
  const std::string convs =
      env_or("TANDEM_BENCH_CONV",
             emulated ? "2,4,8,8,8" : "64,64,64,56,56;64,128,128,28,28;64,256,256,14,14");
  for (const auto& c : split(convs, ';')) {
    const auto f = split(c, ',');
    if (f.size() != 5 && f.size() != 6)
      throw Error("TANDEM_BENCH_CONV: '" + c + "' is not N,C,Co,H,W[,stride]");
    ConvCase cc{};
    cc.N = to_int(f[0], "TANDEM_BENCH_CONV");
    cc.C = to_int(f[1], "TANDEM_BENCH_CONV");
    cc.Co = to_int(f[2], "TANDEM_BENCH_CONV");
    cc.H = to_int(f[3], "TANDEM_BENCH_CONV");
    cc.W = to_int(f[4], "TANDEM_BENCH_CONV");
    cc.stride = f.size() == 6 ? to_int(f[5], "TANDEM_BENCH_CONV") : 1;
    k.convs.push_back(cc);
  }
  k.elements = to_int(env_or("TANDEM_BENCH_ELEMENTS", emulated ? "65536" : "268435456"),
                      "TANDEM_BENCH_ELEMENTS");
  k.resnet_batch = to_int(env_or("TANDEM_BENCH_RESNET_BATCH", emulated ? "2" : "256"),
                          "TANDEM_BENCH_RESNET_BATCH");
  k.steps = std::max<int64_t>(
      1, to_int(env_or("TANDEM_BENCH_STEPS", emulated ? "2" : "20"), "TANDEM_BENCH_STEPS"));
  k.train_repeats =
      std::max<int64_t>(1, to_int(env_or("TANDEM_BENCH_TRAIN_REPEATS", emulated ? "2" : "3"),
                                  "TANDEM_BENCH_TRAIN_REPEATS"));
  k.repeats = std::max<int64_t>(
      1, to_int(env_or("TANDEM_BENCH_REPEATS", emulated ? "2" : "7"), "TANDEM_BENCH_REPEATS"));
  k.warmup = std::max<int64_t>(
      0, to_int(env_or("TANDEM_BENCH_WARMUP", emulated ? "1" : "3"), "TANDEM_BENCH_WARMUP"));
  k.target_ms = std::atof(env_or("TANDEM_BENCH_TARGET_MS", emulated ? "0" : "2").c_str());
  k.deterministic = env_or("TANDEM_BENCH_DETERMINISTIC", "1") != "0";
  k.deadline_s = std::atof(env_or("TANDEM_BENCH_DEADLINE", "0").c_str());
  k.cnn_config = env_or("TANDEM_BENCH_CNN_CONFIG", find_cnn_config());
  return k;
}

// --- output -----------------------------------------------------------------------------------

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (const char ch : s) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

std::string json_number(double v) {
  if (!std::isfinite(v)) return "null";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

// One measurement: `side` is tandem, cublas, cublaslt or memcpy (the last three are ceilings).
// `extra` is more JSON members (",\"key\":value").
void emit(const std::string& side, const std::string& bench, const std::string& name,
          const std::string& unit, double value, double ms, const std::string& extra = "") {
  std::printf("{\"side\":%s,\"bench\":%s,\"case\":%s,\"unit\":%s,\"value\":%s,\"ms\":%s%s}\n",
              json_string(side).c_str(), json_string(bench).c_str(), json_string(name).c_str(),
              json_string(unit).c_str(), json_number(value).c_str(), json_number(ms).c_str(),
              extra.c_str());
  std::fflush(stdout);
}

void emit_error(const std::string& side, const std::string& bench, const std::string& name,
                const std::string& unit, const std::string& error) {
  emit(side, bench, name, unit, NAN, NAN, ",\"error\":" + json_string(error));
}

// --- the device, timing and inputs ------------------------------------------------------------

struct Bench {
  Device dev{DeviceType::CUDA, 0};
  bool real = false;  // a real GPU (else the emulated device)
  size_t l2_bytes = size_t(1) << 20;
  Knobs knobs;
  Clock::time_point started = Clock::now();

  bool past_deadline() const {
    return knobs.deadline_s > 0 &&
           std::chrono::duration<double>(Clock::now() - started).count() > knobs.deadline_s;
  }
  // Input sets to rotate through so that together they are at least 4x the L2 cache.
  int rotation(size_t set_bytes) const {
    if (set_bytes == 0) return 1;
    const size_t n = (4 * l2_bytes + set_bytes - 1) / set_bytes;
    return int(std::clamp<size_t>(n, 1, 16));
  }
};

// Elapsed device time on the compute stream: CUDA events on a GPU; on the emulated device, whose
// streams run synchronously, the host clock between synchronisations.
class Timer {
 public:
  explicit Timer(const Bench& b) : device_(b.dev.index), real_(b.real) {
#if TANDEM_WITH_CUDA
    if (real_) {
      TANDEM_CUDA_CHECK(cudaEventCreate(&start_));
      TANDEM_CUDA_CHECK(cudaEventCreate(&stop_));
    }
#endif
  }
  ~Timer() {
#if TANDEM_WITH_CUDA
    if (start_) cudaEventDestroy(start_);
    if (stop_) cudaEventDestroy(stop_);
#endif
  }
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  void start() {
#if TANDEM_WITH_CUDA
    if (real_) {
      TANDEM_CUDA_CHECK(cudaEventRecord(start_, stream()));
      return;
    }
#endif
    device::synchronize(device_);
    t0_ = Clock::now();
  }
  double stop_ms() {
#if TANDEM_WITH_CUDA
    if (real_) {
      TANDEM_CUDA_CHECK(cudaEventRecord(stop_, stream()));
      TANDEM_CUDA_CHECK(cudaEventSynchronize(stop_));
      TANDEM_CUDA_CHECK(cudaGetLastError());
      float ms = 0;
      TANDEM_CUDA_CHECK(cudaEventElapsedTime(&ms, start_, stop_));
      return double(ms);
    }
#endif
    device::synchronize(device_);
    return std::chrono::duration<double, std::milli>(Clock::now() - t0_).count();
  }

 private:
#if TANDEM_WITH_CUDA
  cudaStream_t stream() const { return static_cast<cudaStream_t>(device::current_stream(device_)); }
  cudaEvent_t start_ = nullptr, stop_ = nullptr;
#endif
  int device_;
  [[maybe_unused]] bool real_;  // read only with the CUDA backend
  Clock::time_point t0_;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Median device milliseconds per call of fn(i), i counting calls (for rotating inputs): warm-up
// calls, one call to size the batches (enough calls for target_ms each), then timed batches.
double ms_per_call(const Bench& b, const std::function<void(int64_t)>& fn) {
  Timer timer(b);
  int64_t i = 0;
  for (int64_t w = 0; w < b.knobs.warmup; ++w) fn(i++);
  timer.start();
  fn(i++);
  const double one = timer.stop_ms();
  const int64_t inner =
      std::clamp<int64_t>(int64_t(std::ceil(b.knobs.target_ms / std::max(one, 1e-3))), 1, 1000);
  std::vector<double> per_call;
  for (int64_t r = 0; r < b.knobs.repeats; ++r) {
    timer.start();
    for (int64_t j = 0; j < inner; ++j) fn(i++);
    per_call.push_back(timer.stop_ms() / double(inner));
  }
  return median(per_call);
}

// Random normals on the device, made once on the CPU; every input is cut from them at a moving
// offset (tiled when larger), so inputs differ from each other and none is zeros.
class RandomPool {
 public:
  RandomPool(Device dev, int64_t n) : dev_(dev) {
    Generator gen(0);
    pool_ = randn({n}, gen).to(dev);
  }
  Tensor make(const Shape& shape, double scale = 1.0, DType dtype = DType::Float32) {
    NoGradGuard no_grad;
    const int64_t n = shape_numel(shape), p = pool_.numel();
    Tensor out = empty({n}, TensorOptions(DType::Float32, dev_));
    for (int64_t done = 0; done < n;) {
      const int64_t off = next_ % p, len = std::min(n - done, p - off);
      out.narrow(0, done, len).copy_(pool_.narrow(0, off, len));
      done += len;
      next_ += len + 7919;  // a prime step, so tiles and consecutive tensors are shifted
    }
    if (scale != 1.0) out.mul_(scale);
    if (dtype != DType::Float32) out = out.to(dtype);
    return out.view(shape);
  }
  // Class labels in [0, classes).
  Tensor labels(int64_t n, int64_t classes) {
    std::vector<int64_t> v(static_cast<size_t>(n));
    for (auto& x : v) x = int64_t(gen_.random() % uint32_t(classes));
    return from_vector(v, {n}).to(dev_);
  }

 private:
  Device dev_;
  Tensor pool_;
  int64_t next_ = 0;
  Generator gen_{1};
};

// Runs one case, reporting a failure (a missing CUDA kernel, say) as that case's error row.
void run_case(const Bench& b, const std::string& bench, const std::string& name,
              const std::string& unit, const std::function<void()>& fn) {
  if (b.past_deadline()) {
    emit_error("tandem", bench, name, unit, "skipped: past TANDEM_BENCH_DEADLINE");
    return;
  }
  try {
    fn();
  } catch (const std::exception& e) {
    emit_error("tandem", bench, name, unit, e.what());
  }
}

void set_math(bool tf32, bool deterministic) {
  kernels::set_math_options({.allow_tf32 = tf32, .deterministic = deterministic});
}

// --- gemm -------------------------------------------------------------------------------------

#if TANDEM_WITH_CUDA
// cuBLAS called directly on tandem's buffers, on tandem's compute stream: the GEMM ceiling.
struct TypeInfo {
  cudaDataType_t data;
  cublasComputeType_t compute;
};
TypeInfo cublas_types(const std::string& dtype) {
  if (dtype == "fp32") return {CUDA_R_32F, CUBLAS_COMPUTE_32F};
  if (dtype == "tf32") return {CUDA_R_32F, CUBLAS_COMPUTE_32F_FAST_TF32};
  return {CUDA_R_16BF, CUBLAS_COMPUTE_32F};
}

constexpr size_t kWorkspaceBytes = size_t(32) << 20;  // as tandem's cuBLASLt GEMM

class DirectCublas {
 public:
  explicit DirectCublas(const Bench& b) {
    stream_ = static_cast<cudaStream_t>(device::current_stream(b.dev.index));
    workspace_ = empty({int64_t(kWorkspaceBytes)}, TensorOptions(DType::UInt8, b.dev));
    TANDEM_CUDA_CHECK(cublasCreate(&handle_));
    TANDEM_CUDA_CHECK(cublasSetStream(handle_, stream_));
    TANDEM_CUDA_CHECK(cublasSetWorkspace(handle_, workspace_.raw_data(), kWorkspaceBytes));
    TANDEM_CUDA_CHECK(cublasLtCreate(&lt_));
  }
  ~DirectCublas() {
    cublasDestroy(handle_);
    cublasLtDestroy(lt_);
  }
  DirectCublas(const DirectCublas&) = delete;
  DirectCublas& operator=(const DirectCublas&) = delete;

  // Row-major c (m x n) = a (m x k) @ b (k x n), read column-major: c^T = b^T a^T.
  void gemm_ex(const TypeInfo& t, int64_t m, int64_t n, int64_t k, const Tensor& a, const Tensor& b,
               const Tensor& c) {
    const float alpha = 1, beta = 0;
    TANDEM_CUDA_CHECK(cublasGemmEx(handle_, CUBLAS_OP_N, CUBLAS_OP_N, int(n), int(m), int(k),
                                   &alpha, b.raw_data(), t.data, int(n), a.raw_data(), t.data,
                                   int(k), &beta, c.raw_data(), t.data, int(n), t.compute,
                                   CUBLAS_GEMM_DEFAULT));
  }

  // cublasLtMatmul with the heuristic's first algorithm, its descriptors made once per case.
  class LtPlan {
   public:
    LtPlan(cublasLtHandle_t lt, const TypeInfo& t, int64_t m, int64_t n, int64_t k) {
      TANDEM_CUDA_CHECK(cublasLtMatmulDescCreate(&desc_, t.compute, CUDA_R_32F));
      TANDEM_CUDA_CHECK(cublasLtMatrixLayoutCreate(&a_, t.data, uint64_t(n), uint64_t(k), n));
      TANDEM_CUDA_CHECK(cublasLtMatrixLayoutCreate(&b_, t.data, uint64_t(k), uint64_t(m), k));
      TANDEM_CUDA_CHECK(cublasLtMatrixLayoutCreate(&c_, t.data, uint64_t(n), uint64_t(m), n));
      cublasLtMatmulPreference_t pref = nullptr;
      TANDEM_CUDA_CHECK(cublasLtMatmulPreferenceCreate(&pref));
      const uint64_t ws = kWorkspaceBytes;
      cublasStatus_t st = cublasLtMatmulPreferenceSetAttribute(
          pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws));
      cublasLtMatmulHeuristicResult_t result{};
      int found = 0;
      if (st == CUBLAS_STATUS_SUCCESS)
        st = cublasLtMatmulAlgoGetHeuristic(lt, desc_, a_, b_, c_, c_, pref, 1, &result, &found);
      cublasLtMatmulPreferenceDestroy(pref);
      TANDEM_CUDA_CHECK(st);
      if (found == 0) throw Error("cublasLtMatmulAlgoGetHeuristic found no algorithm");
      algo_ = result.algo;
      workspace_ = result.workspaceSize;
    }
    ~LtPlan() {
      if (a_) cublasLtMatrixLayoutDestroy(a_);
      if (b_) cublasLtMatrixLayoutDestroy(b_);
      if (c_) cublasLtMatrixLayoutDestroy(c_);
      if (desc_) cublasLtMatmulDescDestroy(desc_);
    }
    LtPlan(const LtPlan&) = delete;
    LtPlan& operator=(const LtPlan&) = delete;

    cublasLtMatmulDesc_t desc_ = nullptr;
    cublasLtMatrixLayout_t a_ = nullptr, b_ = nullptr, c_ = nullptr;
    cublasLtMatmulAlgo_t algo_{};
    size_t workspace_ = 0;
  };

  void lt_matmul(const LtPlan& p, const Tensor& a, const Tensor& b, const Tensor& c) {
    const float alpha = 1, beta = 0;
    TANDEM_CUDA_CHECK(cublasLtMatmul(lt_, p.desc_, &alpha, b.raw_data(), p.a_, a.raw_data(), p.b_,
                                     &beta, c.raw_data(), p.c_, c.raw_data(), p.c_, &p.algo_,
                                     workspace_.raw_data(), p.workspace_, stream_));
  }
  cublasLtHandle_t lt() const { return lt_; }

 private:
  cudaStream_t stream_ = nullptr;
  Tensor workspace_;
  cublasHandle_t handle_ = nullptr;
  cublasLtHandle_t lt_ = nullptr;
};

// ||x - ref|| / ||ref|| in float64 accumulation, on the device.
double relative_error(const Tensor& x, const Tensor& ref) {
  NoGradGuard no_grad;
  const Tensor a = x.to(DType::Float32), r = ref.to(DType::Float32);
  const Tensor d = a - r;
  return std::sqrt((d * d).sum().item() / std::max((r * r).sum().item(), 1e-300));
}
#endif

void bench_gemm(Bench& b, RandomPool& pool) {
#if TANDEM_WITH_CUDA
  std::unique_ptr<DirectCublas> direct;
  if (b.real) direct = std::make_unique<DirectCublas>(b);
#endif
  for (const std::string& dtype : b.knobs.gemm_dtypes) {
    if (dtype != "fp32" && dtype != "tf32" && dtype != "bf16") {
      emit_error("tandem", "gemm", dtype, "TFLOP/s", "unknown dtype (fp32, tf32 or bf16)");
      continue;
    }
    const DType dt = dtype == "bf16" ? DType::BFloat16 : DType::Float32;
    for (const int64_t s : b.knobs.gemm_sizes) {
      const std::string name =
          dtype + " " + std::to_string(s) + "x" + std::to_string(s) + "x" + std::to_string(s);
      const double flops = 2.0 * double(s) * double(s) * double(s);
      const auto tflops = [&](double ms) { return flops / (ms * 1e-3) * 1e-12; };
      const size_t set_bytes = size_t(2 * s * s) * element_size(dt);
      // Operands scaled by 1/sqrt(s): products of order one in every dtype.
      std::vector<Tensor> as, bs;
      const auto make_sets = [&] {
        const int sets = b.rotation(set_bytes);
        for (int i = 0; i < sets; ++i) {
          as.push_back(pool.make({s, s}, 1.0 / std::sqrt(double(s)), dt));
          bs.push_back(pool.make({s, s}, 1.0, dt));
        }
      };
      set_math(dtype == "tf32", b.knobs.deterministic);
      Tensor tandem_c;
      run_case(b, "gemm", name, "TFLOP/s", [&] {
        make_sets();
        NoGradGuard no_grad;
        const size_t n = as.size();
        const double ms = ms_per_call(b, [&](int64_t i) { matmul(as[i % n], bs[i % n]); });
        tandem_c = matmul(as[0], bs[0]);
        emit("tandem", "gemm", name, "TFLOP/s", tflops(ms), ms, ",\"sets\":" + std::to_string(n));
      });
#if TANDEM_WITH_CUDA
      if (direct && !as.empty()) {
        const TypeInfo t = cublas_types(dtype);
        const size_t n = as.size();
        std::vector<Tensor> cs;
        for (size_t i = 0; i < n; ++i) cs.push_back(empty({s, s}, TensorOptions(dt, b.dev)));
        try {
          const double ms = ms_per_call(
              b, [&](int64_t i) { direct->gemm_ex(t, s, s, s, as[i % n], bs[i % n], cs[i % n]); });
          direct->gemm_ex(t, s, s, s, as[0], bs[0], cs[0]);
          std::string extra;
          if (tandem_c.defined())
            extra = ",\"relerr_tandem\":" + json_number(relative_error(tandem_c, cs[0]));
          emit("cublas", "gemm", name, "TFLOP/s", tflops(ms), ms, extra);
        } catch (const std::exception& e) {
          emit_error("cublas", "gemm", name, "TFLOP/s", e.what());
        }
        try {
          const DirectCublas::LtPlan plan(direct->lt(), t, s, s, s);
          const double ms = ms_per_call(
              b, [&](int64_t i) { direct->lt_matmul(plan, as[i % n], bs[i % n], cs[i % n]); });
          emit("cublaslt", "gemm", name, "TFLOP/s", tflops(ms), ms);
        } catch (const std::exception& e) {
          emit_error("cublaslt", "gemm", name, "TFLOP/s", e.what());
        }
      }
#endif
    }
  }
  set_math(false, b.knobs.deterministic);
}

// --- conv2d -----------------------------------------------------------------------------------

void bench_conv2d(Bench& b, RandomPool& pool) {
  set_math(false, b.knobs.deterministic);
  for (const ConvCase& c : b.knobs.convs) {
    const int64_t oh = (c.H + 2 - 3) / c.stride + 1, ow = (c.W + 2 - 3) / c.stride + 1;
    std::ostringstream shape;
    shape << c.N << "x" << c.C << "x" << c.H << "x" << c.W << "->" << c.Co << " k3";
    if (c.stride != 1) shape << " s" << c.stride;
    const double fwd_flops = 2.0 * double(c.N * c.Co * oh * ow) * double(c.C * 9);
    const size_t set_bytes = size_t(c.N * (c.C * c.H * c.W + c.Co * oh * ow)) * 4;
    std::vector<Tensor> xs, gys;
    Tensor w, bias;
    const auto make = [&] {
      if (!xs.empty()) return;
      const int sets = b.rotation(set_bytes);
      for (int i = 0; i < sets; ++i) {
        xs.push_back(pool.make({c.N, c.C, c.H, c.W}).set_requires_grad(true));
        gys.push_back(pool.make({c.N, c.Co, oh, ow}));
      }
      w = pool.make({c.Co, c.C, 3, 3}, 1.0 / std::sqrt(double(c.C * 9))).set_requires_grad(true);
      bias = pool.make({c.Co}, 0.1).set_requires_grad(true);
    };
    const std::string fwd = shape.str() + " fwd", fwd_bwd = shape.str() + " fwd+bwd";
    run_case(b, "conv2d", fwd, "TFLOP/s", [&] {
      make();
      NoGradGuard no_grad;
      const size_t n = xs.size();
      const double ms = ms_per_call(b, [&](int64_t i) {
        (void)conv2d(xs[i % n], w, bias, {c.stride, c.stride}, {1, 1});
      });
      emit("tandem", "conv2d", fwd, "TFLOP/s", fwd_flops / (ms * 1e-3) * 1e-12, ms);
    });
    run_case(b, "conv2d", fwd_bwd, "TFLOP/s", [&] {
      make();
      const size_t n = xs.size();
      const double ms = ms_per_call(b, [&](int64_t i) {
        const Tensor& x = xs[i % n];
        // Fresh gradients each call (set to none), as torch's zero_grad(set_to_none=True).
        x.set_grad(Tensor());
        w.set_grad(Tensor());
        bias.set_grad(Tensor());
        conv2d(x, w, bias, {c.stride, c.stride}, {1, 1}).backward(gys[i % n]);
      });
      emit("tandem", "conv2d", fwd_bwd, "TFLOP/s", 3 * fwd_flops / (ms * 1e-3) * 1e-12, ms);
    });
  }
}

// --- elementwise ------------------------------------------------------------------------------

void bench_elementwise(Bench& b, RandomPool& pool) {
  const int64_t E = b.knobs.elements;
  const int64_t cols = std::clamp<int64_t>(E, 1, 4096);
  const int64_t rows = std::max<int64_t>(1, E / cols);
  const std::string m =
      E % (int64_t(1) << 20) == 0 ? std::to_string(E >> 20) + "M" : std::to_string(E);
  Tensor a, c, x, bias;
  const auto make = [&] {
    if (a.defined()) return;
    a = pool.make({E});
    c = pool.make({E});
    x = a.narrow(0, 0, rows * cols).view({rows, cols});
    bias = pool.make({cols});
  };
  struct Op {
    std::string name;
    double bytes;
    std::function<void()> fn;
  };
  const double f = 4;  // float32
  const std::vector<Op> ops = {
      {"add " + m + " f32", 3 * f * double(E), [&] { (void)(a + c); }},
      {"relu " + m + " f32", 2 * f * double(E), [&] { (void)relu(a); }},
      {"bcast add [" + std::to_string(rows) + "," + std::to_string(cols) + "]+[" +
           std::to_string(cols) + "] f32",
       2 * f * double(rows * cols) + f * cols, [&] { (void)(x + bias); }},
  };
  NoGradGuard no_grad;
  for (const Op& op : ops) {
    run_case(b, "elementwise", op.name, "GB/s", [&] {
      make();
      const double ms = ms_per_call(b, [&](int64_t) { op.fn(); });
      emit("tandem", "elementwise", op.name, "GB/s", op.bytes / (ms * 1e-3) * 1e-9, ms);
      // The ceiling: one device-to-device copy reading and writing as many bytes in all.
      const int64_t floats = std::max<int64_t>(1, int64_t(op.bytes / 2 / f));
      const Tensor src = pool.make({floats});
      const Tensor dst = empty({floats}, src.options());
      auto& rt = device::cuda_runtime();
      const auto stream = device::current_stream(b.dev.index);
      const double copy_ms = ms_per_call(b, [&](int64_t) {
        rt.memcpy_async(dst.raw_data(), src.raw_data(), size_t(floats) * 4,
                        device::CopyKind::DeviceToDevice, stream);
      });
      emit("memcpy", "elementwise", op.name, "GB/s",
           2 * f * double(floats) / (copy_ms * 1e-3) * 1e-9, copy_ms);
    });
  }
}

// --- training steps ---------------------------------------------------------------------------

// Input shape (C, H, W) and classes of a config's dataset.
std::pair<Shape, int64_t> input_of(const launch::RunConfig& cfg) {
  if (cfg.data.dataset == "synthetic")
    return {Shape(cfg.data.synthetic_shape.begin(), cfg.data.synthetic_shape.end()),
            cfg.data.synthetic_classes};
  return {{1, 28, 28}, 10};  // fashion_mnist
}

// images/s of optimizer steps of the config's model and optimizer at its batch size.
void train_steps(Bench& b, RandomPool& pool, const std::string& name,
                 const launch::RunConfig& cfg) {
  run_case(b, "train", name, "images/s", [&] {
    set_math(false, b.knobs.deterministic);
    nn::ModulePtr model = launch::build_model_from_config(cfg);
    model->to(b.dev);
    model->train();
    auto optimizer = optim::make_optimizer(cfg.optimizer, model->parameters());
    const auto [chw, classes] = input_of(cfg);
    const int64_t batch = cfg.data.batch_size;
    Shape shape{batch};
    shape.insert(shape.end(), chw.begin(), chw.end());
    std::vector<Tensor> xs, ys;
    size_t per_batch = size_t(shape_numel(shape)) * 4;
    for (int i = 0, n = b.rotation(per_batch); i < std::min(n, 4); ++i) {
      xs.push_back(pool.make(shape));
      ys.push_back(pool.labels(batch, classes));
    }
    const auto step = [&](int64_t i) {
      optimizer->zero_grad();
      const size_t k = size_t(i) % xs.size();
      Tensor loss = cross_entropy(model->forward(xs[k]), ys[k]);
      loss.backward();
      optimizer->step();
    };
    int64_t i = 0;
    for (int64_t w = 0; w < std::max<int64_t>(b.knobs.warmup, 2); ++w) step(i++);
    Timer timer(b);
    std::vector<double> ms_per_step, wall_per_step;
    for (int64_t r = 0; r < b.knobs.train_repeats; ++r) {
      device::synchronize(b.dev.index);
      const auto t0 = Clock::now();
      timer.start();
      for (int64_t s = 0; s < b.knobs.steps; ++s) step(i++);
      ms_per_step.push_back(timer.stop_ms() / double(b.knobs.steps));
      device::synchronize(b.dev.index);
      wall_per_step.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count() /
                              double(b.knobs.steps));
    }
    const double ms = median(ms_per_step);
    emit("tandem", "train", name, "images/s", double(batch) / (ms * 1e-3), ms,
         ",\"wall_ms\":" + json_number(median(wall_per_step)) +
             ",\"batch\":" + std::to_string(batch) + ",\"steps\":" + std::to_string(b.knobs.steps));
  });
}

void bench_train(Bench& b, RandomPool& pool) {
  // The CNN exactly as `tandem train` builds it from the file.
  std::optional<launch::RunConfig> cnn;
  try {
    cnn = launch::load_config(b.knobs.cnn_config);
  } catch (const std::exception& e) {
    emit_error("tandem", "train", "cnn fashion_mnist_cnn.yaml", "images/s", e.what());
  }
  if (cnn)
    train_steps(b, pool, "cnn fashion_mnist_cnn.yaml b" + std::to_string(cnn->data.batch_size),
                *cnn);
  const int64_t batch = b.knobs.resnet_batch;
  const launch::RunConfig resnet = launch::parse_config(
      "model: {name: resnet18, num_classes: 10, in_channels: 3}\n"
      "optimizer: {name: sgd, lr: 0.1, momentum: 0.9, weight_decay: 5.0e-4}\n"
      "data: {dataset: synthetic, batch_size: " +
          std::to_string(batch) + ", synthetic_shape: [3, 32, 32], synthetic_classes: 10}\n",
      "bench_gpu (resnet18)");
  train_steps(b, pool, "resnet18 3x32x32 b" + std::to_string(batch), resnet);
}

int run() {
  retain_freed_memory();  // as the tandem executable does
  auto& rt = device::cuda_runtime();
  if (rt.device_count() == 0) {
    std::printf("no CUDA device: %s\n", rt.unavailable_reason().c_str());
    return 0;
  }
  Bench b;
  b.real = !device::cuda_is_emulated();
  b.knobs = read_knobs(!b.real);
  device::DeviceGuard guard(0);
  device::check_device(0);
  std::string name = "emulated CUDA", libraries;
#if TANDEM_WITH_CUDA
  if (b.real) {
    cudaDeviceProp p{};
    TANDEM_CUDA_CHECK(cudaGetDeviceProperties(&p, 0));
    name = p.name;
    int l2 = 0;
    TANDEM_CUDA_CHECK(cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, 0));
    if (l2 > 0) b.l2_bytes = size_t(l2);
    for (const auto& lib : kernels::cuda::cuda_report().libraries)
      if (lib.name == "CUDA runtime" || lib.name == "CUDA driver" || lib.name == "cuBLAS" ||
          lib.name == "cuDNN")
        libraries += (libraries.empty() ? "" : ", ") + lib.name + " " + lib.running;
  }
#endif
  std::printf(
      "{\"side\":\"tandem\",\"info\":true,\"device\":%s,\"emulated\":%s,\"deterministic\":%s,"
      "\"l2_bytes\":%zu,\"direct_cublas\":%s,\"libraries\":%s}\n",
      json_string(name).c_str(), b.real ? "false" : "true",
      b.knobs.deterministic ? "true" : "false", b.l2_bytes, b.real ? "true" : "false",
      json_string(libraries).c_str());
  std::fflush(stdout);
  RandomPool pool(b.dev, b.real ? int64_t(16) << 20 : int64_t(1) << 16);
  const std::vector<std::pair<std::string, void (*)(Bench&, RandomPool&)>> sections = {
      {"gemm", bench_gemm},
      {"conv2d", bench_conv2d},
      {"elementwise", bench_elementwise},
      {"train", bench_train}};
  for (const auto& [section, fn] : sections) {
    if (!b.knobs.wants(section)) continue;
    try {
      fn(b, pool);
    } catch (const std::exception& e) {
      emit_error("tandem", section, "(section)", "", e.what());
    }
  }
  return 0;
}

}  // namespace

int main() {
  try {
    return run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_gpu: %s\n", e.what());
    return 1;
  }
}
