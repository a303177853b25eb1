// The fibers behind tests/cuda_on_host/cuda_on_host.h: a block's threads are fibers on the
// launching thread, run round-robin; each runs until it finishes or gives way (a barrier or a
// shuffle), so one round takes every unfinished thread to its next barrier.
#include "tests/cuda_on_host/cuda_on_host.h"

#include <gtest/gtest.h>
#if !defined(__x86_64__)
#include <ucontext.h>  // the fibers' portable switch
#endif

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <vector>

#include "kernels/common/bad_index.h"
#include "kernels/common/error.h"
#include "kernels/device/runtime.h"

extern "C" cudaError_t tandem_cuda_on_host_get_last_error(void) { return cudaSuccess; }

namespace tandem::cuda_on_host {

thread_local Coordinates here;
std::atomic<uint64_t> launches{0};

namespace {

constexpr size_t kStackBytes = 64 * 1024;

// --- fibers: a saved context, and a switch from one to another -----------------------------------
#if defined(__x86_64__)
// On x86-64 a context is a stack pointer, and a switch saves the callee-saved registers and the
// SSE and x87 control words on the stack it leaves: about 20 instructions, where swapcontext makes
// a system call (to save the signal mask) every time.
struct Context {
  void* sp = nullptr;
};
extern "C" void tandem_cuda_on_host_switch(void** save, void* resume);
asm(R"(
  .text
  .globl tandem_cuda_on_host_switch
  .type tandem_cuda_on_host_switch, @function
tandem_cuda_on_host_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size tandem_cuda_on_host_switch, .-tandem_cuda_on_host_switch
)");

void switch_context(Context& save, Context& resume) {
  tandem_cuda_on_host_switch(&save.sp, resume.sp);
}

// A context whose first resumption calls entry() on `stack`: the frame the switch pops (control
// words, six registers, a return address into entry), above it a null return address for entry,
// which never returns.
void make_context(Context& c, char* stack, void (*entry)()) {
  auto* top = reinterpret_cast<uint64_t*>(reinterpret_cast<uintptr_t>(stack + kStackBytes) &
                                          ~uintptr_t(15));
  uint32_t mxcsr = 0;
  uint16_t x87 = 0;
  asm volatile("stmxcsr %0" : "=m"(mxcsr));
  asm volatile("fnstcw %0" : "=m"(x87));
  uint64_t* sp = top;
  *--sp = 0;                                      // entry's return address
  *--sp = reinterpret_cast<uint64_t>(entry);      // the switch's `ret` lands here (16-byte aligned)
  for (int r = 0; r < 6; ++r) *--sp = 0;          // rbp rbx r12 r13 r14 r15
  *--sp = uint64_t(mxcsr) | uint64_t(x87) << 32;  // stmxcsr at 0, fnstcw at 4
  c.sp = sp;
}
#else
struct Context {
  ucontext_t uc;
};
void switch_context(Context& save, Context& resume) {
  if (swapcontext(&save.uc, &resume.uc) != 0) std::abort();
}
void make_context(Context& c, char* stack, void (*entry)()) {
  if (getcontext(&c.uc) != 0) throw Error("cuda_on_host: getcontext failed");
  c.uc.uc_stack.ss_sp = stack;
  c.uc.uc_stack.ss_size = kStackBytes;
  c.uc.uc_link = nullptr;  // entry never returns
  makecontext(&c.uc, entry, 0);
}
#endif

struct Block {
  std::vector<Context> fibers;
  std::vector<std::unique_ptr<char[]>> stacks;
  std::vector<char> finished;
  std::vector<int64_t> lanes;
  std::vector<unsigned char> shared;
  Context scheduler;
  unsigned running = 0;
  bool in_fiber = false;  // the running thread is a fiber (else it runs on the thread's stack)
  bool gave_way = false;
  const std::function<void()>* body = nullptr;
  std::exception_ptr error;
};

thread_local Block* block = nullptr;  // the launch running on this thread

[[noreturn]] void fiber_main() {
  Block& b = *block;
  try {
    (*b.body)();
  } catch (...) {
    if (!b.error) b.error = std::current_exception();
  }
  b.finished[b.running] = 1;
  switch_context(b.fibers[b.running], b.scheduler);  // never resumed
  std::abort();
}

void make_fiber(Block& b, unsigned t) {
  make_context(b.fibers[t], b.stacks[t].get(), fiber_main);
  b.finished[t] = 0;
}

// Runs fiber t until it finishes or gives way.
void resume(Block& b, unsigned t) {
  b.running = t;
  here.thread_idx = {t, 0, 0};
  b.in_fiber = true;
  switch_context(b.scheduler, b.fibers[t]);
  b.in_fiber = false;
}

// Runs thread t to its end on this thread's own stack.
void run_direct(Block& b, unsigned t) {
  b.running = t;
  here.thread_idx = {t, 0, 0};
  try {
    (*b.body)();
  } catch (...) {
    if (!b.error) b.error = std::current_exception();
  }
}

// Runs one block, and says whether its threads gave way. Most kernels never do: thread 0 runs in
// a fiber first, and if it ends without giving way the others run directly (a thread that then
// gives way is an error: a block's threads must all reach its barriers). Otherwise, or when
// `fibers` says an earlier block gave way, every thread is a fiber, round-robin.
bool run_block(Block& b, unsigned threads, bool fibers) {
  // Dynamic shared memory starts as garbage on a GPU: all ones here (NaN, -1), never zeros.
  std::fill(b.shared.begin(), b.shared.end(), static_cast<unsigned char>(0xFF));
  unsigned first = 0;
  if (!fibers) {
    make_fiber(b, 0);
    b.gave_way = false;
    resume(b, 0);
    if (!b.gave_way) {
      for (unsigned t = threads; --t > 0;) run_direct(b, t);
      return false;
    }
    first = 1;  // thread 0 waits at its first barrier; the others join as fibers
  }
  for (unsigned t = first; t < threads; ++t) make_fiber(b, t);
  // Round-robin; the first round starts after thread 0 when it already reached its barrier.
  for (unsigned left = threads, start = first; left > 0; start = 0)
    for (unsigned t = start; t < threads; ++t) {
      if (b.finished[t]) continue;
      resume(b, t);
      if (b.finished[t]) --left;
    }
  return true;
}

std::vector<void (*)()>& installations() {
  static std::vector<void (*)()> list;
  return list;
}

struct FamilyRuns {
  std::mutex mutex;
  std::map<std::string, uint64_t> runs;  // every installed family, with its launcher's runs
};
FamilyRuns& family_runs() {
  static FamilyRuns* r = new FamilyRuns;  // used by stream threads until the process ends
  return *r;
}

}  // namespace

void run_grid(dim3 grid, dim3 threads, size_t shared_bytes, const std::function<void()>& body) {
  TANDEM_CHECK(threads.y == 1 && threads.z == 1 && grid.y == 1 && grid.z == 1,
               "cuda_on_host runs 1-D grids of 1-D blocks");
  TANDEM_CHECK(threads.x >= 1 && threads.x <= 1024, "a block of ", threads.x, " threads");
  TANDEM_CHECK(grid.x >= 1, "a launch of 0 blocks (CUDA: invalid configuration argument)");
  TANDEM_CHECK(shared_bytes <= 48 * 1024, "a launch with ", shared_bytes,
               " bytes of dynamic shared memory (CUDA's default limit is 48 KiB)");
  TANDEM_CHECK(!block, "cuda_on_host: a kernel launched from a kernel");
  launches.fetch_add(1, std::memory_order_relaxed);
  thread_local Block b;  // reused: stacks are allocated once per thread
  while (b.stacks.size() < threads.x) b.stacks.emplace_back(new char[kStackBytes]);
  b.fibers.resize(threads.x);
  b.finished.resize(threads.x);
  b.lanes.assign(threads.x, 0);
  b.shared.resize(shared_bytes);
  b.body = &body;
  b.error = nullptr;
  here.block_dim = threads;
  here.grid_dim = grid;
  block = &b;
  struct Done {
    ~Done() { block = nullptr; }
  } done;
  // Blocks in reverse order, and (run_block) threads after thread 0 too: a kernel that relies on
  // an order CUDA does not promise, or lacks a barrier, should fail here rather than pass.
  bool fibers = false;  // once a block's threads gave way, every later block's are fibers
  for (unsigned x = grid.x; x-- > 0 && !b.error;) {
    here.block_idx = {x, 0, 0};
    fibers = run_block(b, threads.x, fibers) || fibers;
  }
  if (b.error) std::rethrow_exception(b.error);
}

void yield_to_block() {
  Block& b = *block;
  TANDEM_CHECK(b.in_fiber, "cuda_on_host: thread ", b.running, " of block ", here.block_idx.x,
               " reached a barrier or shuffle that thread 0 did not");
  b.gave_way = true;
  switch_context(b.fibers[b.running], b.scheduler);
}

unsigned char* dynamic_shared_bytes() { return block->shared.data(); }

int64_t& lane_slot(unsigned thread) { return block->lanes.at(thread); }

void defer_installation(void (*install)()) { installations().push_back(install); }

void note_installed(const char* family) {
  FamilyRuns& r = family_runs();
  const std::lock_guard<std::mutex> lock(r.mutex);
  r.runs.emplace(family, 0);
}

void count_run(const char* family) {
  FamilyRuns& r = family_runs();
  const std::lock_guard<std::mutex> lock(r.mutex);
  ++r.runs[family];
}

void throw_reported_bad_index() {
  kernels::throw_reported_bad_index(*kernels::cuda_on_host::bad_index_report());
}

void install_cuda_kernels_on_host() {
  for (auto install : installations()) install();
  setenv("TANDEM_CUDA_KERNELS_ON_HOST", "1", 1);
}

namespace {
// Installs the launchers before the first test (after static initialisation).
struct Install : ::testing::Environment {
  void SetUp() override { install_cuda_kernels_on_host(); }
  void TearDown() override {
    // Every stream run out first (a launcher still queued there may hold a scratch block), and
    // before the count's lock is taken: a launcher takes it too.
    auto& runtime = kernels::device::cuda_runtime();
    for (int d = 0; d < runtime.device_count(); ++d) runtime.synchronize_device(d);
    FamilyRuns& r = family_runs();
    const std::lock_guard<std::mutex> lock(r.mutex);
    std::string idle;
    size_t ran = 0;
    for (const auto& [name, runs] : r.runs) {
      if (runs > 0)
        ++ran;
      else
        idle += " " + name;
    }
    const auto& scratch = kernels::cuda_on_host::device::device_allocator();
    std::printf(
        "cuda_on_host: %llu CUDA kernel launches; %zu of %zu families ran%s%s; %zu scratch "
        "blocks\n",
        static_cast<unsigned long long>(launches.load()), ran, r.runs.size(),
        idle.empty() ? "" : "; not run:", idle.c_str(), scratch.allocated());
    // Every launcher frees its scratch before it returns, thrown or not.
    EXPECT_EQ(scratch.live(), 0u) << "scratch blocks never freed";
  }
};
[[maybe_unused]] auto* const install = ::testing::AddGlobalTestEnvironment(new Install);
}  // namespace

}  // namespace tandem::cuda_on_host

namespace tandem::kernels::cuda_on_host {

// kernels/cuda/bad_index_report.h's report, in ordinary host memory.
BadIndexReport* bad_index_report() {
  static BadIndexReport report{};
  return &report;
}

namespace device {
namespace {
std::atomic<size_t> live_blocks{0}, allocated_blocks{0};
}  // namespace

void* ScratchAllocator::allocate(size_t nbytes, int, void*) {
  const size_t size = nbytes > 0 ? nbytes : 1;
  void* block = std::malloc(size);
  if (block == nullptr) throw std::bad_alloc();
  std::memset(block, 0xFF, size);
  ++live_blocks;
  ++allocated_blocks;
  return block;
}

void ScratchAllocator::free(void* ptr) {
  if (ptr == nullptr) return;
  std::free(ptr);
  --live_blocks;
}

size_t ScratchAllocator::live() const { return live_blocks.load(); }
size_t ScratchAllocator::allocated() const { return allocated_blocks.load(); }

ScratchAllocator& device_allocator() {
  static ScratchAllocator allocator;
  return allocator;
}
}  // namespace device

}  // namespace tandem::kernels::cuda_on_host
