// The conv2d families on real GPUs through cuDNN 9's legacy convolution API:
// cudnnConvolutionForward (+ the bias, kernels/cuda/channel_bias.h), cudnnConvolutionBackwardData
// and cudnnConvolutionBackwardFilter, the two backward ones overwriting their outputs (beta 0), as
// the kernel table says. The descriptors come from kernels/common/conv_plan.h (tested on the
// CPU); per device one cuDNN handle, set to the call's stream; per distinct problem the
// descriptors and the algorithm are chosen once (cudnnGet*Algorithm_v7, the first candidate that
// choose_conv_algorithm accepts: deterministic ones only while math_options().deterministic) and
// cached; the workspace comes from the caching allocator on the call's stream.
#include <cudnn.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "kernels/common/conv_plan.h"
#include "kernels/common/math_options.h"
#include "kernels/cuda/channel_bias.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/descriptor.h"
#include "kernels/device/caching_allocator.h"
#include "kernels/device/context.h"
#include "kernels/kernel_table.h"

namespace tandem::kernels::cuda {
namespace {

// The most workspace an algorithm may ask for; faster algorithms needing more are passed over.
constexpr size_t kMaxWorkspaceBytes = size_t(1) << 30;

enum class Direction : uint8_t { Forward, BackwardData, BackwardFilter };

const char* direction_name(Direction d) {
  switch (d) {
    case Direction::Forward:
      return "conv2d";
    case Direction::BackwardData:
      return "conv2d backward (input)";
    default:
      return "conv2d backward (weight)";
  }
}

cudnnDataType_t data_type(DType t) {
  switch (t) {
    case DType::Float32:
      return CUDNN_DATA_FLOAT;
    case DType::Float64:
      return CUDNN_DATA_DOUBLE;
    case DType::Float16:
      return CUDNN_DATA_HALF;
    case DType::BFloat16:
      return CUDNN_DATA_BFLOAT16;
    default:
      throw Error(std::string("conv2d: the CUDA convolution takes floating-point tensors, got ") +
                  dtype_name(t));
  }
}

// float64 computes in float64; the others accumulate in float32.
cudnnDataType_t compute_type(DType t) {
  return t == DType::Float64 ? CUDNN_DATA_DOUBLE : CUDNN_DATA_FLOAT;
}

std::string describe(const Conv2dShape& s, DType dtype) {
  return detail::concat("input (", s.N, ", ", s.C, ", ", s.H, ", ", s.W, "), weight (", s.Co, ", ",
                        s.C / (s.groups > 0 ? s.groups : 1), ", ", s.kh, ", ", s.kw, "), stride (",
                        s.stride_h, ", ", s.stride_w, "), padding (", s.pad_h, ", ", s.pad_w,
                        "), dilation (", s.dilation_h, ", ", s.dilation_w, "), groups ", s.groups,
                        ", ", dtype_name(dtype));
}

struct PlanKey {
  int device;
  DType dtype;
  Direction direction;
  bool tf32, deterministic;
  Conv2dShape shape;
  auto operator<=>(const PlanKey&) const = default;
};

// cuDNN's descriptors for one problem and the algorithm chosen for it.
struct Plan {
  Descriptor<cudnnTensorDescriptor_t, cudnnDestroyTensorDescriptor> x, y;
  Descriptor<cudnnFilterDescriptor_t, cudnnDestroyFilterDescriptor> w;
  Descriptor<cudnnConvolutionDescriptor_t, cudnnDestroyConvolutionDescriptor> conv;
  int algo = 0;
  size_t workspace = 0;
};

// A device's handle; its mutex is held from cudnnSetStream to the end of the call's launch.
struct Handle {
  cudnnHandle_t handle = nullptr;
  std::mutex mutex;
};

template <typename Perf>
std::vector<ConvAlgoCandidate> candidates_of(const std::vector<Perf>& perf, int count) {
  std::vector<ConvAlgoCandidate> c;
  for (int i = 0; i < count; ++i)
    c.push_back({int(perf[size_t(i)].algo), perf[size_t(i)].status == CUDNN_STATUS_SUCCESS,
                 perf[size_t(i)].determinism == CUDNN_DETERMINISTIC, perf[size_t(i)].memory,
                 ConvMath(int(perf[size_t(i)].mathType))});
  return c;
}

class ConvCache {
 public:
  Handle& handle(int device) {
    std::lock_guard<std::mutex> lock(mutex_);
    std::unique_ptr<Handle>& h = handles_[device];
    if (!h) {
      auto created = std::make_unique<Handle>();
      device::DeviceGuard guard(device);
      TANDEM_CUDA_CHECK(cudnnCreate(&created->handle));
      h = std::move(created);
    }
    return *h;
  }

  // The plan for `key`, built on first use with `handle`, whose mutex the caller holds: one
  // device's plans are built one at a time.
  const Plan& plan(const PlanKey& key, cudnnHandle_t handle) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = plans_.find(key);
      if (it != plans_.end()) return it->second;
    }
    Plan p = build(key, handle);
    std::lock_guard<std::mutex> lock(mutex_);
    return plans_.emplace(key, std::move(p)).first->second;
  }

 private:
  static Plan build(const PlanKey& key, cudnnHandle_t handle) {
    const Conv2dShape& s = key.shape;
    const CudnnConvPlan d = cudnn_conv_plan(s);
    const cudnnDataType_t type = data_type(key.dtype);
    Plan p;
    TANDEM_CUDA_CHECK(cudnnCreateTensorDescriptor(p.x.out()));
    TANDEM_CUDA_CHECK(cudnnSetTensor4dDescriptorEx(p.x, type, d.x[0], d.x[1], d.x[2], d.x[3],
                                                   d.x_strides[0], d.x_strides[1], d.x_strides[2],
                                                   d.x_strides[3]));
    TANDEM_CUDA_CHECK(cudnnCreateTensorDescriptor(p.y.out()));
    TANDEM_CUDA_CHECK(cudnnSetTensor4dDescriptorEx(p.y, type, d.y[0], d.y[1], d.y[2], d.y[3],
                                                   d.y_strides[0], d.y_strides[1], d.y_strides[2],
                                                   d.y_strides[3]));
    TANDEM_CUDA_CHECK(cudnnCreateFilterDescriptor(p.w.out()));
    TANDEM_CUDA_CHECK(
        cudnnSetFilter4dDescriptor(p.w, type, CUDNN_TENSOR_NCHW, d.w[0], d.w[1], d.w[2], d.w[3]));
    TANDEM_CUDA_CHECK(cudnnCreateConvolutionDescriptor(p.conv.out()));
    TANDEM_CUDA_CHECK(cudnnSetConvolution2dDescriptor(
        p.conv, d.pad[0], d.pad[1], d.stride[0], d.stride[1], d.dilation[0], d.dilation[1],
        CUDNN_CROSS_CORRELATION, compute_type(key.dtype)));
    TANDEM_CUDA_CHECK(cudnnSetConvolutionGroupCount(p.conv, d.groups));
    TANDEM_CUDA_CHECK(
        cudnnSetConvolutionMathType(p.conv, cudnnMathType_t(int(conv_math(key.dtype, key.tf32)))));
    // cuDNN's own output size must be the plan's (it is the same formula).
    int out[4];
    TANDEM_CUDA_CHECK(cudnnGetConvolution2dForwardOutputDim(p.conv, p.x, p.w, &out[0], &out[1],
                                                            &out[2], &out[3]));
    for (int i = 0; i < 4; ++i)
      TANDEM_CHECK(out[i] == d.y[i], "conv2d: cuDNN's output dim ", i, " is ", out[i], ", not ",
                   d.y[i], " (", describe(s, key.dtype), ")");

    int max_count = 0, count = 0;
    std::vector<ConvAlgoCandidate> candidates;
    std::vector<cudnnConvolutionFwdAlgoPerf_t> fwd;
    std::vector<cudnnConvolutionBwdDataAlgoPerf_t> bwd_data;
    std::vector<cudnnConvolutionBwdFilterAlgoPerf_t> bwd_filter;
    switch (key.direction) {
      case Direction::Forward:
        TANDEM_CUDA_CHECK(cudnnGetConvolutionForwardAlgorithmMaxCount(handle, &max_count));
        fwd.resize(size_t(max_count));
        TANDEM_CUDA_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(handle, p.x, p.w, p.conv, p.y,
                                                                 max_count, &count, fwd.data()));
        candidates = candidates_of(fwd, count);
        break;
      case Direction::BackwardData:
        TANDEM_CUDA_CHECK(cudnnGetConvolutionBackwardDataAlgorithmMaxCount(handle, &max_count));
        bwd_data.resize(size_t(max_count));
        TANDEM_CUDA_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(
            handle, p.w, p.y, p.conv, p.x, max_count, &count, bwd_data.data()));
        candidates = candidates_of(bwd_data, count);
        break;
      case Direction::BackwardFilter:
        TANDEM_CUDA_CHECK(cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(handle, &max_count));
        bwd_filter.resize(size_t(max_count));
        TANDEM_CUDA_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(
            handle, p.x, p.y, p.conv, p.w, max_count, &count, bwd_filter.data()));
        candidates = candidates_of(bwd_filter, count);
        break;
    }
    const ConvAlgoChoice choice = choose_conv_algorithm(
        candidates, key.dtype, MathOptions{key.tf32, key.deterministic}, kMaxWorkspaceBytes);
    if (choice.index < 0)
      throw Error(std::string(direction_name(key.direction)) + ": cuDNN offers no algorithm to " +
                      "run " + describe(s, key.dtype) + " (" + choice.why + ")",
                  key.deterministic ? "training.deterministic: false lets cuDNN use its "
                                      "non-deterministic algorithms"
                                    : "");
    p.algo = candidates[size_t(choice.index)].algo;
    // cuDNN runs the algorithm with the descriptor's math type: set the chosen one, then ask for
    // the workspace of exactly that combination.
    TANDEM_CUDA_CHECK(cudnnSetConvolutionMathType(p.conv, cudnnMathType_t(int(choice.math))));
    switch (key.direction) {
      case Direction::Forward:
        TANDEM_CUDA_CHECK(cudnnGetConvolutionForwardWorkspaceSize(
            handle, p.x, p.w, p.conv, p.y, cudnnConvolutionFwdAlgo_t(p.algo), &p.workspace));
        break;
      case Direction::BackwardData:
        TANDEM_CUDA_CHECK(cudnnGetConvolutionBackwardDataWorkspaceSize(
            handle, p.w, p.y, p.conv, p.x, cudnnConvolutionBwdDataAlgo_t(p.algo), &p.workspace));
        break;
      case Direction::BackwardFilter:
        TANDEM_CUDA_CHECK(cudnnGetConvolutionBackwardFilterWorkspaceSize(
            handle, p.x, p.y, p.conv, p.w, cudnnConvolutionBwdFilterAlgo_t(p.algo), &p.workspace));
        break;
    }
    return p;
  }

  std::mutex mutex_;
  std::map<int, std::unique_ptr<Handle>> handles_;
  std::map<PlanKey, Plan> plans_;  // never freed: a handful of shapes per run
};

ConvCache& cache() {
  static ConvCache* c = new ConvCache();
  return *c;
}

// Workspace from the caching allocator on the call's stream, returned when the call is queued:
// the block goes back to that stream's pool, so its next user is ordered after this call.
class Workspace {
 public:
  Workspace(size_t bytes, const KernelContext& ctx)
      : ptr_(bytes ? device::device_allocator().allocate(bytes, ctx.device.index, ctx.stream)
                   : nullptr) {}
  ~Workspace() {
    if (ptr_) device::device_allocator().free(ptr_);
  }
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;
  void* get() const { return ptr_; }

 private:
  void* ptr_;
};

// alpha and beta as cuDNN reads them: double for float64 data, float otherwise.
struct Scale {
  float f;
  double d;
  const void* of(DType t) const { return t == DType::Float64 ? static_cast<const void*>(&d) : &f; }
};

// Runs `call(handle, plan, workspace)` for the problem `s` (one chunk of images) on ctx's stream.
template <typename Call>
void run(const KernelContext& ctx, Direction direction, const Conv2dShape& s, DType dtype,
         Call&& call) {
  const MathOptions math = math_options();
  const PlanKey key{ctx.device.index,   dtype,
                    direction,          dtype == DType::Float32 && math.allow_tf32,
                    math.deterministic, s};
  ConvCache& cc = cache();
  Handle& h = cc.handle(ctx.device.index);
  std::lock_guard<std::mutex> lock(h.mutex);
  const Plan& plan = cc.plan(key, h.handle);
  TANDEM_CUDA_CHECK(cudnnSetStream(h.handle, static_cast<cudaStream_t>(ctx.stream)));
  Workspace workspace(plan.workspace, ctx);
  try {
    call(h.handle, plan, workspace.get());
  } catch (const Error& e) {
    throw Error(std::string(direction_name(direction)) + ": " + e.what() + " for " +
                describe(s, dtype));
  }
}

char* offset(const Buffer& b, int64_t elements) {
  return static_cast<char*>(b.data) + elements * int64_t(element_size(b.dtype));
}

void zero(const KernelContext& ctx, const Buffer& b, int64_t elements) {
  if (elements > 0)
    TANDEM_CUDA_CHECK(cudaMemsetAsync(b.data, 0, size_t(elements) * element_size(b.dtype),
                                      static_cast<cudaStream_t>(ctx.stream)));
}

void conv2d_forward_cuda(const KernelContext& ctx, const Conv2dShape& s, const Buffer& x,
                         const Buffer& w, const Buffer& bias, const Buffer& y) {
  const DType dtype = x.dtype;
  const int64_t x_image = s.C * s.H * s.W, y_image = s.Co * s.oh * s.ow;
  if (conv_is_empty(s)) {
    zero(ctx, y, s.N * y_image);
  } else {
    const Scale one{1.0f, 1.0}, zero_scale{0.0f, 0.0};
    for (const ConvChunk& chunk : conv_chunks(s)) {
      Conv2dShape cs = s;
      cs.N = chunk.count;
      run(ctx, Direction::Forward, cs, dtype, [&](cudnnHandle_t h, const Plan& p, void* ws) {
        TANDEM_CUDA_CHECK(cudnnConvolutionForward(
            h, one.of(dtype), p.x, offset(x, chunk.first * x_image), p.w, w.data, p.conv,
            cudnnConvolutionFwdAlgo_t(p.algo), ws, p.workspace, zero_scale.of(dtype), p.y,
            offset(y, chunk.first * y_image)));
      });
    }
  }
  if (bias.defined())
    add_channel_bias(static_cast<cudaStream_t>(ctx.stream), dtype, y.data, bias.data, s.N, s.Co,
                     s.oh * s.ow);
}

void conv2d_backward_input_cuda(const KernelContext& ctx, const Conv2dShape& s, const Buffer& gy,
                                const Buffer& w, const Buffer& gx) {
  const DType dtype = gy.dtype;
  const int64_t x_image = s.C * s.H * s.W, y_image = s.Co * s.oh * s.ow;
  if (conv_is_empty(s)) return zero(ctx, gx, s.N * x_image);
  const Scale one{1.0f, 1.0}, zero_scale{0.0f, 0.0};
  for (const ConvChunk& chunk : conv_chunks(s)) {
    Conv2dShape cs = s;
    cs.N = chunk.count;
    run(ctx, Direction::BackwardData, cs, dtype, [&](cudnnHandle_t h, const Plan& p, void* ws) {
      TANDEM_CUDA_CHECK(cudnnConvolutionBackwardData(
          h, one.of(dtype), p.w, w.data, p.y, offset(gy, chunk.first * y_image), p.conv,
          cudnnConvolutionBwdDataAlgo_t(p.algo), ws, p.workspace, zero_scale.of(dtype), p.x,
          offset(gx, chunk.first * x_image)));
    });
  }
}

void conv2d_backward_weight_cuda(const KernelContext& ctx, const Conv2dShape& s, const Buffer& x,
                                 const Buffer& gy, const Buffer& gw) {
  const DType dtype = x.dtype;
  const int64_t x_image = s.C * s.H * s.W, y_image = s.Co * s.oh * s.ow;
  if (conv_is_empty(s)) return zero(ctx, gw, s.Co * (s.C / s.groups) * s.kh * s.kw);
  const Scale one{1.0f, 1.0}, zero_scale{0.0f, 0.0};
  for (const ConvChunk& chunk : conv_chunks(s)) {
    Conv2dShape cs = s;
    cs.N = chunk.count;
    // The first chunk overwrites the gradient, later ones add to it (in chunk order).
    const Scale& beta = chunk.first == 0 ? zero_scale : one;
    run(ctx, Direction::BackwardFilter, cs, dtype, [&](cudnnHandle_t h, const Plan& p, void* ws) {
      TANDEM_CUDA_CHECK(cudnnConvolutionBackwardFilter(
          h, one.of(dtype), p.x, offset(x, chunk.first * x_image), p.y,
          offset(gy, chunk.first * y_image), p.conv, cudnnConvolutionBwdFilterAlgo_t(p.algo), ws,
          p.workspace, beta.of(dtype), p.w, gw.data));
    });
  }
}

}  // namespace

TANDEM_REGISTER_CUDA_KERNEL(conv2d_forward, conv2d_forward_cuda);
TANDEM_REGISTER_CUDA_KERNEL(conv2d_backward_input, conv2d_backward_input_cuda);
TANDEM_REGISTER_CUDA_KERNEL(conv2d_backward_weight, conv2d_backward_weight_cuda);

}  // namespace tandem::kernels::cuda
