// The emulated CUDA device as a whole (kernels/emulated/): device pointers the host cannot
// dereference, tagging and untagging, copies that check their kinds, several devices with their
// own memory, DeviceGuard and StreamGuard, out of memory, invalid devices, a kernel family
// without a kernel, the emulated kernel wrapper, TANDEM_EMULATE_CUDA's validation, and streams
// that run asynchronously (events, waits between streams, pageable and pinned copies, deferred
// kernel errors).
//
// ctest sets TANDEM_EMULATE_CUDA=4 (tests/CMakeLists.txt); elsewhere (a real GPU, or no device)
// the tests that need the emulated device skip. The environment is read once per process, so
// the tests of other settings run in a death-test child (the "threadsafe" style re-executes the
// binary, so the child creates its runtime afresh from the environment it sets).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "framework/ops/ops.h"
#include "kernels/device/caching_allocator.h"
#include "kernels/device/context.h"
#include "kernels/device/runtime.h"
#include "kernels/dispatch.h"
#include "kernels/emulated/emulated_kernel.h"
#include "kernels/emulated/emulated_runtime.h"
#include "tests/error_text.h"

using namespace tandem;
namespace dev = kernels::device;
namespace emu = kernels::emulated;
using kernels::Backend;
using kernels::Buffer;
using kernels::KernelContext;
using tandem::testing::error_text;

namespace {

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TensorOptions on(const char* device) { return TensorOptions().with_device(Device(device)); }

class EmulatedDevice : public ::testing::Test {
 protected:
  void SetUp() override {
    ::testing::GTEST_FLAG(death_test_style) = "threadsafe";
    if (!dev::cuda_is_emulated())
      GTEST_SKIP() << "cuda is not the emulated device here (run under ctest, or set "
                      "TANDEM_EMULATE_CUDA=4)";
    if (dev::cuda_runtime().device_count() < 2)
      GTEST_SKIP() << "needs 2 emulated devices (TANDEM_EMULATE_CUDA=4 as under ctest)";
  }
  dev::DeviceRuntime& rt() { return dev::cuda_runtime(); }
};

// In a death-test child: runs `fn`, prints what it threw to stderr and exits 3, or exits 0.
[[noreturn]] void exit_with_error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    std::fprintf(stderr, "error: %s\nhint: %s\n", e.what(), e.hint().c_str());
    std::fflush(stderr);
    std::_Exit(3);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "exception: %s\n", e.what());
    std::fflush(stderr);
    std::_Exit(4);
  }
  std::fflush(stderr);
  std::_Exit(0);
}

}  // namespace

// --- device pointers ---------------------------------------------------------------------------

TEST_F(EmulatedDevice, HostCodeCannotDereferenceADevicePointer) {
  const Tensor t = full({4}, 2.0, on("cuda:0"));
  EXPECT_TRUE(emu::is_device_address(t.raw_data()));
  EXPECT_DEATH(
      {
        const volatile float value = *static_cast<const volatile float*>(t.raw_data());
        (void)value;
      },
      "");
  // Through the device's own copy the same memory reads fine.
  EXPECT_TRUE(equal(t.cpu(), full({4}, 2.0)));
}

TEST_F(EmulatedDevice, HostAddressAcceptsDevicePointersOnly) {
  std::vector<float> host(4, 1.0f);
  const std::string what = error_text([&] { emu::host_address(host.data()); });
  EXPECT_TRUE(contains(what, "is not a device address (a host pointer reached a device kernel)"))
      << what;
  EXPECT_FALSE(emu::is_device_address(host.data()));
  EXPECT_EQ(emu::host_address(nullptr), nullptr);

  void* tagged = emu::device_address(host.data(), 3);
  EXPECT_NE(tagged, static_cast<void*>(host.data()));
  EXPECT_TRUE(emu::is_device_address(tagged));
  EXPECT_EQ(emu::device_of(tagged), 3);
  EXPECT_EQ(emu::host_address(tagged), static_cast<void*>(host.data()));

  // A tensor's memory: tagged with its device, untagged to a host address.
  const Tensor t = zeros({8}, on("cuda:1"));
  EXPECT_EQ(emu::device_of(t.raw_data()), 1);
  EXPECT_FALSE(emu::is_device_address(emu::host_address(t.raw_data())));
  // Only addresses below 2^48 can be tagged.
  EXPECT_TRUE(contains(
      error_text([] { emu::device_address(reinterpret_cast<void*>(uintptr_t(1) << 50), 0); }),
      "above 2^48"));
}

TEST_F(EmulatedDevice, CopiesCheckTheirKinds) {
  using dev::CopyKind;
  const dev::StreamHandle s = dev::compute_stream(0);
  void* d1 = rt().malloc(64, 0);
  void* d2 = rt().malloc(64, 0);
  ASSERT_TRUE(d1 && d2);
  std::vector<float> in = {1, 2, 3, 4}, out(4, 0);
  rt().memcpy_async(d1, in.data(), 16, CopyKind::HostToDevice, s);
  rt().memcpy_async(d2, d1, 16, CopyKind::DeviceToDevice, s);
  rt().memcpy_async(out.data(), d2, 16, CopyKind::DeviceToHost, s);
  rt().synchronize_stream(s);
  EXPECT_EQ(out, in);

  auto copy_error = [&](void* dst, const void* src, CopyKind kind) {
    return error_text([&] { rt().memcpy_async(dst, src, 16, kind, s); });
  };
  EXPECT_TRUE(contains(copy_error(d1, d2, CopyKind::HostToDevice),
                       "host-to-device copy from a device address to a device address"));
  EXPECT_TRUE(contains(copy_error(out.data(), in.data(), CopyKind::HostToDevice),
                       "host-to-device copy from a host address to a host address"));
  EXPECT_TRUE(contains(copy_error(out.data(), in.data(), CopyKind::DeviceToHost),
                       "device-to-host copy from a host address to a host address"));
  EXPECT_TRUE(contains(copy_error(d1, d2, CopyKind::DeviceToHost),
                       "device-to-host copy from a device address to a device address"));
  EXPECT_TRUE(contains(copy_error(d1, in.data(), CopyKind::DeviceToDevice),
                       "device-to-device copy with a host address"));
  EXPECT_TRUE(contains(
      error_text([&] { rt().memcpy_async(d1, in.data(), 16, CopyKind::HostToDevice, nullptr); }),
      "without a stream"));
  EXPECT_EQ(out, in);  // nothing was written by a refused copy
  rt().free(d1, 0);
  rt().free(d2, 0);
}

// --- several devices ---------------------------------------------------------------------------

TEST_F(EmulatedDevice, EachDeviceHasItsOwnMemory) {
  auto& alloc = dev::device_allocator();
  const dev::AllocatorStats before0 = alloc.stats(0), before1 = alloc.stats(1);
  const size_t free1 = rt().memory_info(1).first;
  const Tensor t = zeros({3 << 20}, on("cuda:1"));  // 12 MiB: a segment of its own
  const dev::AllocatorStats after0 = alloc.stats(0), after1 = alloc.stats(1);
  EXPECT_EQ(after1.allocated_bytes - before1.allocated_bytes, size_t(12) << 20);
  EXPECT_EQ(after1.reserved_bytes - before1.reserved_bytes, size_t(12) << 20);
  EXPECT_EQ(free1 - rt().memory_info(1).first, size_t(12) << 20);
  EXPECT_EQ(after0.allocated_bytes, before0.allocated_bytes);
  EXPECT_EQ(after0.reserved_bytes, before0.reserved_bytes);
  EXPECT_EQ(emu::device_of(t.raw_data()), 1);
  EXPECT_EQ(rt().memory_info(1).second, rt().memory_info(0).second);
}

TEST_F(EmulatedDevice, TheRuntimeSaysOutOfMemoryWithNull) {
  const int d = rt().device_count() - 1;  // the last device, which other tests use least
  const auto [free_bytes, total] = rt().memory_info(d);
  EXPECT_EQ(rt().malloc(total + 1, d), nullptr);
  EXPECT_EQ(rt().malloc(SIZE_MAX, d), nullptr);  // not a wrapped-around small block
  EXPECT_EQ(rt().malloc(SIZE_MAX - 100, d), nullptr);
  EXPECT_EQ(rt().memory_info(d).first, free_bytes);
}

TEST_F(EmulatedDevice, CopiesBetweenDevices) {
  Generator gen(7);
  const Tensor a = randn({5, 6}, gen);
  const Tensor on0 = a.to(Device("cuda:0"));
  const Tensor on1 = on0.to(Device("cuda:1"));
  EXPECT_EQ(on1.device(), Device("cuda:1"));
  EXPECT_EQ(emu::device_of(on1.raw_data()), 1);
  EXPECT_TRUE(equal(on1.cpu(), a));
  // A strided source (a transpose) on the way back.
  const Tensor back = on1.t().to(Device("cuda:0"));
  EXPECT_EQ(emu::device_of(back.raw_data()), 0);
  EXPECT_TRUE(equal(back.cpu(), a.t()));
}

// --- current device and stream -----------------------------------------------------------------

TEST_F(EmulatedDevice, DeviceGuardRestoresThePreviousDevice) {
  dev::set_current_device(0);
  {
    dev::DeviceGuard outer(1);
    EXPECT_EQ(dev::current_device(), 1);
    {
      dev::DeviceGuard inner(0);
      EXPECT_EQ(dev::current_device(), 0);
    }
    EXPECT_EQ(dev::current_device(), 1);
    EXPECT_THROW(dev::DeviceGuard bad(99), Error);
    EXPECT_EQ(dev::current_device(), 1);  // a refused guard changes nothing
  }
  EXPECT_EQ(dev::current_device(), 0);
}

// A thread that never chose a device (a data loader's, a hook's) keeps the guard's device after
// it: restoring the implicit device 0 would create a context on GPU 0 on a real machine.
TEST_F(EmulatedDevice, DeviceGuardOnAFreshThreadLeavesItsDevice) {
  std::thread fresh([] {
    {
      dev::DeviceGuard guard(1);
      EXPECT_EQ(dev::current_device(), 1);
    }
    EXPECT_EQ(dev::current_device(), 1);
    {
      dev::DeviceGuard guard(0);  // now the thread has a device: restored as usual
    }
    EXPECT_EQ(dev::current_device(), 1);
  });
  fresh.join();
}

TEST_F(EmulatedDevice, StreamGuardMakesAStreamCurrentAndRestores) {
  const dev::StreamHandle compute = dev::compute_stream(1);
  EXPECT_EQ(dev::current_stream(1), compute);
  const dev::StreamHandle side = rt().create_stream(1), other = rt().create_stream(1);
  void* ptr = nullptr;
  {
    dev::StreamGuard guard(1, side);
    EXPECT_EQ(dev::current_stream(1), side);
    EXPECT_EQ(dev::current_stream(0), dev::compute_stream(0));  // other devices unaffected
    EXPECT_EQ(kernels::context_for(Device("cuda:1")).stream, side);
    {
      dev::StreamGuard nested(1, other);
      EXPECT_EQ(dev::current_stream(1), other);
    }
    EXPECT_EQ(dev::current_stream(1), side);
    // Memory allocated under the guard comes from the side stream's pool.
    const Tensor t = zeros({16}, on("cuda:1"));
    ptr = t.raw_data();
    bool found = false;
    for (const auto& seg : dev::device_allocator().memory_snapshot())
      for (const auto& blk : seg.blocks)
        if (blk.ptr == ptr) {
          found = true;
          EXPECT_EQ(seg.stream, side);
        }
    EXPECT_TRUE(found);
  }
  EXPECT_EQ(dev::current_stream(1), compute);
  EXPECT_EQ(kernels::context_for(Device("cuda:1")).stream, compute);
  // `side` keys the allocator's pool of that block from now on, so only `other` goes.
  rt().destroy_stream(other, 1);
}

// --- errors ------------------------------------------------------------------------------------

TEST_F(EmulatedDevice, AnInvalidDeviceNamesTheDeviceCount) {
  const int n = rt().device_count();
  const std::string device = "cuda:" + std::to_string(n + 3);
  try {
    zeros({2}, on(device.c_str()));
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_TRUE(contains(e.what(), device + " is not available: emulated CUDA has " +
                                       std::to_string(n) + " devices"))
        << e.what();
    EXPECT_EQ(e.hint(), "use cuda:0 to cuda:" + std::to_string(n - 1));
  }
  EXPECT_TRUE(
      contains(error_text([&] { dev::set_current_device(-1); }), "cuda:-1 is not available"));
}

namespace {

// A kernel for the tests below: out[i] = value for n elements.
void fill_cpu(const KernelContext& ctx, Buffer out, int64_t n, float value) {
  EXPECT_TRUE(ctx.device.is_cpu());  // the emulated wrapper hands the CPU kernel a CPU context
  EXPECT_FALSE(emu::is_device_address(out.data));
  for (int64_t i = 0; i < n; ++i) out.as<float>()[i] = value;
}

}  // namespace

TEST_F(EmulatedDevice, AFamilyWithoutAKernelNamesItselfAndTheBackend) {
  kernels::KernelFamily<void(const KernelContext&, Buffer, int64_t, float)> family("test_fill");
  const Tensor t = zeros({4}, on("cuda:0"));
  const KernelContext ctx = kernels::context_for(Device("cuda:0"));
  try {
    family(ctx, Buffer{t.raw_data()}, 4, 1.0f);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "test_fill: no emulated CUDA kernel");
    EXPECT_EQ(e.hint(), "run this op on the cpu device");
  }
  float host[4] = {};
  EXPECT_EQ(error_text([&] {
              family(KernelContext{kCPU, nullptr}, Buffer{host}, 4, 1.0f);
            }),
            "test_fill: no CPU kernel");

  // With the emulated slot filled the way TANDEM_REGISTER_CPU_KERNEL does it, the call runs the
  // CPU kernel on the untagged buffer.
  family.set(Backend::EmulatedCUDA, &emu::EmulatedKernel<&fill_cpu>::run);
  family(ctx, Buffer{t.raw_data()}, 4, 3.0f);
  EXPECT_TRUE(equal(t.cpu(), full({4}, 3.0)));
  // A host pointer given to the emulated kernel is an error, not a silent success that would
  // crash on a GPU.
  EXPECT_TRUE(
      contains(error_text([&] { family(ctx, Buffer{host}, 4, 1.0f); }), "is not a device address"));
  EXPECT_EQ(host[0], 0.0f);
}

// --- settings read once per process: in a child with its own environment ------------------------

TEST(EmulatedDeviceEnvironment, OutOfMemoryReleasesTheCacheThenFails) {
  ::testing::GTEST_FLAG(death_test_style) = "threadsafe";
  EXPECT_EXIT(exit_with_error_of([] {
                setenv("TANDEM_EMULATE_CUDA", "2", 1);
                setenv("TANDEM_EMULATED_MEMORY_MB", "32", 1);
                auto& alloc = dev::device_allocator();
                const Tensor small = zeros({256}, on("cuda:1"));      // 1 KiB: a 2 MiB segment
                { const Tensor t = zeros({3 << 20}, on("cuda:1")); }  // 12 MiB, then cached
                { const Tensor t = zeros({6 << 20}, on("cuda:1")); }  // 24 MiB: releases the 12
                std::fprintf(stderr, "retries %lld, ooms %lld\n",
                             (long long)alloc.stats(1).alloc_retries,
                             (long long)alloc.stats(1).ooms);
                zeros({10 << 20}, on("cuda:1"));  // 40 MiB: more than the device has
              }),
              ::testing::ExitedWithCode(3),
              "retries 1, ooms 0\n"
              "error: emulated CUDA out of memory on cuda:1: tried to allocate 40.0 MiB; 1.0 KiB "
              "allocated by tensors, 2.0 MiB reserved by tandem's caching allocator, 30.0 MiB "
              "free of 32.0 MiB\n"
              "hint: reduce data.batch_size or the model size");
}

TEST(EmulatedDeviceEnvironment, BadSettingsAreClearErrors) {
  ::testing::GTEST_FLAG(death_test_style) = "threadsafe";
  for (const char* value : {"two", "4x", "-1", "17"}) {
    SCOPED_TRACE(value);
    EXPECT_EXIT(exit_with_error_of([value] {
                  setenv("TANDEM_EMULATE_CUDA", value, 1);
                  dev::cuda_runtime();
                }),
                ::testing::ExitedWithCode(3),
                std::string("error: TANDEM_EMULATE_CUDA='") + value +
                    "' is not a device count\n"
                    "hint: set it to the number of emulated CUDA devices \\(1 to 16\\), or 0 for "
                    "none");
  }
  for (const char* value : {"lots", "0", "-3", "1.5"}) {
    SCOPED_TRACE(value);
    EXPECT_EXIT(exit_with_error_of([value] {
                  setenv("TANDEM_EMULATE_CUDA", "1", 1);
                  setenv("TANDEM_EMULATED_MEMORY_MB", value, 1);
                  dev::cuda_runtime();
                }),
                ::testing::ExitedWithCode(3),
                std::string("error: TANDEM_EMULATED_MEMORY_MB='") + value +
                    "' is not a size in MiB\n"
                    "hint: set it to each emulated device's memory in MiB");
  }
  EXPECT_EXIT(exit_with_error_of([] {
                setenv("TANDEM_EMULATE_CUDA", "1", 1);
                setenv("TANDEM_EMULATED_STREAMS", "fast", 1);
                dev::cuda_runtime();
              }),
              ::testing::ExitedWithCode(3),
              "error: TANDEM_EMULATED_STREAMS='fast' is not async or sync\n"
              "hint: unset it \\(async");
  // 0 (or empty) means no emulation: cuda is the real runtime (or none).
  EXPECT_EXIT(exit_with_error_of([] {
                setenv("TANDEM_EMULATE_CUDA", "0", 1);
                if (dev::cuda_is_emulated()) throw Error("0 should not emulate");
              }),
              ::testing::ExitedWithCode(0), "");
}

// --- asynchronous streams (kernels/emulated/emulated_stream.h) ---------------------------------

namespace {
// Holds a stream's worker until released, so the tests can see what runs when. The state is
// shared with the queued task, which may still be waking up when the gate goes.
class StreamGate {
 public:
  explicit StreamGate(dev::StreamHandle s) : state_(std::make_shared<State>()) {
    emu::enqueue(s, [state = state_] {
      std::unique_lock<std::mutex> lock(state->mu);
      state->cv.wait(lock, [&] { return state->open; });
    });
  }
  ~StreamGate() { open(); }
  void open() {
    {
      std::lock_guard<std::mutex> lock(state_->mu);
      state_->open = true;
    }
    state_->cv.notify_all();
  }

 private:
  struct State {
    std::mutex mu;
    std::condition_variable cv;
    bool open = false;
  };
  std::shared_ptr<State> state_;
};

class EmulatedStreams : public EmulatedDevice {
 protected:
  void SetUp() override {
    EmulatedDevice::SetUp();
    if (IsSkipped()) return;
    if (!emu::streams_are_async()) GTEST_SKIP() << "TANDEM_EMULATED_STREAMS=sync";
  }
};
}  // namespace

TEST_F(EmulatedStreams, WorkRunsAfterItsCallReturnsAndInStreamOrder) {
  const dev::StreamHandle s = rt().create_stream(0);
  std::vector<int> order;
  std::atomic<bool> ran{false};
  {
    StreamGate gate(s);
    for (int i = 0; i < 3; ++i) emu::enqueue(s, [&order, i] { order.push_back(i); });
    emu::enqueue(s, [&] { ran = true; });
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_FALSE(ran.load());  // queued behind the gate, not run at the call
  }
  rt().synchronize_stream(s);
  EXPECT_TRUE(ran.load());
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2}));
  rt().destroy_stream(s, 0);
}

TEST_F(EmulatedStreams, AnEventCompletesWhenItsStreamGetsThereAndOrdersAnotherStream) {
  const dev::StreamHandle a = rt().create_stream(0), b = rt().create_stream(0);
  const dev::EventHandle e = rt().create_event(0);
  EXPECT_TRUE(rt().event_done(e));  // never recorded: complete, as CUDA's
  std::atomic<int> a_done{0}, b_saw{-1};
  auto gate = std::make_unique<StreamGate>(a);
  emu::enqueue(a, [&] { a_done = 1; });
  rt().record_event(e, a);
  rt().stream_wait_event(b, e);  // b's later work waits for a's, on the device
  emu::enqueue(b, [&] { b_saw = a_done.load(); });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_FALSE(rt().event_done(e));
  EXPECT_EQ(b_saw.load(), -1);
  gate.reset();  // opens a
  rt().synchronize_stream(b);
  EXPECT_EQ(b_saw.load(), 1);
  EXPECT_TRUE(rt().event_done(e));
  rt().destroy_event(e, 0);
  rt().destroy_stream(a, 0);
  rt().destroy_stream(b, 0);
}

TEST_F(EmulatedStreams, CopiesFromPageableMemoryReadItAtTheCallFromPinnedMemoryLater) {
  // As cudaMemcpyAsync: a pageable source may be reused once the call returns; a pinned one is
  // read when the stream gets there (refilling it too early is the bug this catches in CI).
  const dev::StreamHandle s = rt().create_stream(0);
  void* d_pageable = rt().malloc(4 * sizeof(float), 0);
  void* d_pinned = rt().malloc(4 * sizeof(float), 0);
  std::vector<float> pageable{1, 2, 3, 4};
  auto* pinned = static_cast<float*>(rt().malloc_host(4 * sizeof(float)));
  for (int i = 0; i < 4; ++i) pinned[i] = float(i + 1);
  {
    StreamGate gate(s);
    rt().memcpy_async(d_pageable, pageable.data(), 16, dev::CopyKind::HostToDevice, s);
    rt().memcpy_async(d_pinned, pinned, 16, dev::CopyKind::HostToDevice, s);
    for (int i = 0; i < 4; ++i) pageable[size_t(i)] = pinned[i] = -1;  // refilled too early
  }
  std::vector<float> back(4), back_from_pinned_source(4);
  // Device to pageable host memory returns once the copy has run: readable without a sync.
  rt().memcpy_async(back.data(), d_pageable, 16, dev::CopyKind::DeviceToHost, s);
  EXPECT_EQ(back, (std::vector<float>{1, 2, 3, 4}));
  rt().memcpy_async(back_from_pinned_source.data(), d_pinned, 16, dev::CopyKind::DeviceToHost, s);
  EXPECT_EQ(back_from_pinned_source, (std::vector<float>{-1, -1, -1, -1}));
  rt().free_host(pinned);
  rt().free(d_pageable, 0);
  rt().free(d_pinned, 0);
  rt().destroy_stream(s, 0);
}

TEST_F(EmulatedStreams, AKernelsErrorIsReportedAtTheNextSynchronisation) {
  const dev::StreamHandle s = rt().create_stream(1);
  emu::enqueue(s, [] { throw Error("a kernel failed"); });
  emu::enqueue(s, [] {});  // the stream goes on, as later launches do
  try {
    rt().synchronize_stream(s);
    FAIL() << "the kernel's error was lost";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "a kernel failed");
  }
  EXPECT_NO_THROW(rt().synchronize_stream(s));  // reported once
  rt().destroy_stream(s, 1);
}

TEST_F(EmulatedStreams, KernelsCopyTheirArgumentsAtTheLaunch) {
  // An op's result, computed on the compute stream's thread, equals the CPU's even though the
  // host goes on at once (the argument lists live on in the queued kernel).
  Generator gen(4);
  const Tensor a = randn({64, 33}, gen), b = randn({33, 17}, gen);
  const Tensor on_cuda = matmul(a.to(Device("cuda:0")), b.to(Device("cuda:0"))).relu();
  EXPECT_TRUE(equal(on_cuda.cpu(), matmul(a, b).relu()));
}

TEST_F(EmulatedStreams, AProcessThatExitsWithKernelsStillQueuedExitsCleanly) {
  // The queued kernels run before the libraries they call are torn down (and their plan caches
  // are never destroyed), so exiting without a synchronisation is not a crash at exit.
  EXPECT_EXIT(
      {
        Generator gen(5);
        const Tensor x = randn({8, 3, 32, 32}, gen).to(Device("cuda:0"));
        const Tensor w = randn({16, 3, 3, 3}, gen).to(Device("cuda:0"));
        for (int i = 0; i < 20; ++i) {
          const Tensor y = conv2d(x, w, Tensor(), {1, 1}, {1, 1});
          const Tensor z = matmul(y.flatten(1), y.flatten(1).t());
        }
        std::exit(0);  // atexit handlers and static destructors run, with no synchronisation
      },
      ::testing::ExitedWithCode(0), "");
}
