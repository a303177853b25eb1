// Descriptor<Handle, Destroy>: the owner of one of NVIDIA's opaque descriptors (a cuDNN tensor,
// filter or convolution descriptor, a cuBLASLt layout, matmul descriptor or preference), destroyed
// with its owner. A plan whose build throws halfway (no algorithm for a shape, a library error)
// then leaks nothing, and a plan built twice by racing threads frees the copy that is not kept.
//
//   using TensorDesc = Descriptor<cudnnTensorDescriptor_t, cudnnDestroyTensorDescriptor>;
//   TensorDesc x;
//   TANDEM_CUDA_CHECK(cudnnCreateTensorDescriptor(x.out()));
//   cudnnSetTensor4dDescriptor(x, ...);   // converts to the handle
#pragma once

#include <utility>

namespace tandem::kernels::cuda {

template <typename Handle, auto Destroy>
class Descriptor {
 public:
  Descriptor() = default;
  ~Descriptor() { reset(); }
  Descriptor(Descriptor&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
  Descriptor& operator=(Descriptor&& other) noexcept {
    if (this != &other) {
      reset();
      handle_ = std::exchange(other.handle_, nullptr);
    }
    return *this;
  }
  Descriptor(const Descriptor&) = delete;
  Descriptor& operator=(const Descriptor&) = delete;

  // Implicit, so the descriptor passes straight to the library's calls.
  operator Handle() const { return handle_; }  // NOLINT(google-explicit-constructor)
  // Where a Create call writes the new handle (any handle held before is destroyed first).
  Handle* out() {
    reset();
    return &handle_;
  }

 private:
  void reset() {
    if (handle_) Destroy(handle_);  // a destroy's status is not worth throwing from a destructor
    handle_ = nullptr;
  }
  Handle handle_ = nullptr;
};

}  // namespace tandem::kernels::cuda
