// Throughput of the CPU hot paths (single-thread, but for the "norm" and "threads" sections),
// next to OpenBLAS's own sgemm on this machine: GEMM, conv2d forward+backward, layer and group
// normalisation, and one training step of a small MLP and CNN. Prints one JSON object per line
// (bench/run.sh puts them beside PyTorch's numbers from torch_baseline.py).
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "framework/autograd/grad_mode.h"
#include "framework/core/memory.h"
#include "framework/nn/init.h"
#include "framework/ops/ops.h"
#include "kernels/cpu/threads.h"

using namespace tandem;
using Clock = std::chrono::steady_clock;

namespace {

// Median-free, simple: warm up, then time enough repetitions to pass ~0.5 s.
double seconds_per_call(const std::function<void()>& fn) {
  fn();
  int reps = 1;
  while (true) {
    auto t0 = Clock::now();
    for (int i = 0; i < reps; ++i) fn();
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    if (s > 0.5) return s / reps;
    reps *= 2;
  }
}

void report(const char* name, const char* shape, double flops, double sec) {
  std::printf("{\"bench\":\"%s\",\"shape\":\"%s\",\"ms\":%.4f,\"gflops\":%.2f}\n", name, shape,
              sec * 1e3, flops / sec * 1e-9);
  std::fflush(stdout);
}

// Labels 0..classes-1 from the generator.
Tensor randint_like_labels(int64_t n, int64_t classes, Generator& gen) {
  std::vector<int64_t> v(static_cast<size_t>(n));
  for (auto& x : v) x = int64_t(gen.random() % uint32_t(classes));
  return from_vector(v, {n});
}

}  // namespace

// The sections named on the command line (all when none are).
std::vector<std::string> selected_sections;

// Runs one benchmark section; a failure is reported and the rest still run.
void section(const char* name, const std::function<void()>& fn) {
  if (!selected_sections.empty() && std::find(selected_sections.begin(), selected_sections.end(),
                                              name) == selected_sections.end())
    return;
  try {
    fn();
  } catch (const std::exception& e) {
    std::printf("{\"bench\":\"%s\",\"error\":\"%s\"}\n", name, e.what());
  }
}

// Usage: bench_ops [gemm] [conv2d] [conv_layers] [mlp] [cnn] [dropout] [init] [norm] [threads]
// (default: all)
int main(int argc, char** argv) {
  selected_sections.assign(argv + 1, argv + argc);
  retain_freed_memory();  // as the tandem executable does
  tandem::kernels::cpu::set_cpu_threads(1);
  Generator gen(0);
  section("gemm", [&] {
    for (int n : {128, 256, 512, 1024}) {
      Tensor a = randn({n, n}, gen), b = randn({n, n}, gen), c = zeros({n, n});
      const double flops = 2.0 * n * n * n;
      char shape[32];
      std::snprintf(shape, sizeof shape, "%dx%dx%d", n, n, n);
      report("openblas_sgemm", shape, flops, seconds_per_call([&] {
               cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.f,
                           a.data_ptr<float>(), n, b.data_ptr<float>(), n, 0.f, c.data_ptr<float>(),
                           n);
             }));
      report("tandem_mm", shape, flops, seconds_per_call([&] { mm(a, b); }));
    }
  });
  section("conv2d", [&] {
    // conv2d 3x3, pad 1: batch 32, 32 -> 64 channels, 28x28 (a Fashion-MNIST CNN layer).
    const int64_t N = 32, Ci = 32, Co = 64, H = 28, W = 28, K = 3;
    Tensor x = randn({N, Ci, H, W}, gen).set_requires_grad(true);
    Tensor w = (randn({Co, Ci, K, K}, gen) * 0.05).detach().set_requires_grad(true);
    Tensor bias = zeros({Co}).set_requires_grad(true);
    const double fwd = 2.0 * N * Co * Ci * K * K * H * W;
    report("tandem_conv2d_fwd", "32x32x28x28->64 k3", fwd, seconds_per_call([&] {
             NoGradGuard g;
             conv2d(x, w, bias, {1, 1}, {1, 1});
           }));
    report("tandem_conv2d_fwd_bwd", "32x32x28x28->64 k3", 3 * fwd, seconds_per_call([&] {
             conv2d(x, w, bias, {1, 1}, {1, 1}).sum().backward();
           }));
  });
  section("conv_layers", [&] {
    // The convolutions of the benchmarked networks, forward and forward+backward (input and
    // weight gradients; the first layer of a network has no input gradient): run once with
    // TANDEM_CPU_CONV=im2col and once with =onednn to compare the two per layer.
    struct Layer {
      const char* name;
      int64_t N, C, H, Co, k, stride, pad;
    };
    const Layer layers[] = {
        {"cnn.conv1", 64, 1, 28, 32, 3, 1, 1},
        {"cnn.conv2", 64, 32, 14, 64, 3, 1, 1},
        {"resnet18.conv1", 32, 3, 32, 64, 7, 2, 3},
        {"resnet18.layer1", 32, 64, 8, 64, 3, 1, 1},
        {"resnet18.layer2.0", 32, 64, 8, 128, 3, 2, 1},
        {"resnet18.layer2", 32, 128, 4, 128, 3, 1, 1},
        {"resnet18.layer2.down", 32, 64, 8, 128, 1, 2, 0},
        {"resnet18.layer3", 32, 256, 2, 256, 3, 1, 1},
        {"resnet18.layer4", 32, 512, 1, 512, 3, 1, 1},
    };
    for (const Layer& l : layers) {
      Tensor x = randn({l.N, l.C, l.H, l.H}, gen).set_requires_grad(l.C > 3);
      Tensor w = (randn({l.Co, l.C, l.k, l.k}, gen) * 0.05).detach().set_requires_grad(true);
      const int64_t oh = (l.H + 2 * l.pad - l.k) / l.stride + 1;
      const double fwd = 2.0 * l.N * l.Co * l.C * l.k * l.k * oh * oh;
      report((std::string(l.name) + "_fwd").c_str(), "", fwd, seconds_per_call([&] {
               NoGradGuard g;
               conv2d(x, w, Tensor(), {l.stride, l.stride}, {l.pad, l.pad});
             }));
      report((std::string(l.name) + "_fwd_bwd").c_str(), "", (l.C > 3 ? 3 : 2) * fwd,
             seconds_per_call([&] {
               conv2d(x, w, Tensor(), {l.stride, l.stride}, {l.pad, l.pad}).sum().backward();
             }));
      if (l.C <= 3) continue;
      Tensor x_const = x.detach();  // the weight gradient alone
      report((std::string(l.name) + "_fwd_bwd_weight").c_str(), "", 2 * fwd, seconds_per_call([&] {
               conv2d(x_const, w, Tensor(), {l.stride, l.stride}, {l.pad, l.pad}).sum().backward();
             }));
    }
  });
  section("mlp", [&] {
    // MLP 784-256-10, batch 64: forward, cross-entropy, backward (no optimizer).
    Tensor x = randn({64, 784}, gen), y = randint_like_labels(64, 10, gen);
    Tensor w1 = (randn({256, 784}, gen) * 0.03).detach().set_requires_grad(true),
           b1 = zeros({256}).set_requires_grad(true);
    Tensor w2 = (randn({10, 256}, gen) * 0.06).detach().set_requires_grad(true),
           b2 = zeros({10}).set_requires_grad(true);
    const double flops = 3 * 2.0 * 64 * (784 * 256 + 256 * 10);
    report("tandem_mlp_step", "64x784-256-10", flops, seconds_per_call([&] {
             cross_entropy(linear(relu(linear(x, w1, b1)), w2, b2), y).backward();
           }));
  });
  section("cnn", [&] {
    // CNN step (configs/fashion_mnist_cnn.yaml's shape): conv3x3(1->32)+BN+ReLU+pool, linear
    // 6272->10.
    Tensor x = randn({64, 1, 28, 28}, gen), y = randint_like_labels(64, 10, gen);
    Tensor w = (randn({32, 1, 3, 3}, gen) * 0.3).detach().set_requires_grad(true),
           b = zeros({32}).set_requires_grad(true);
    Tensor g = ones({32}).set_requires_grad(true), be = zeros({32}).set_requires_grad(true);
    Tensor rm = zeros({32}), rv = ones({32});
    Tensor fw = (randn({10, 6272}, gen) * 0.01).detach().set_requires_grad(true),
           fb = zeros({10}).set_requires_grad(true);
    const double flops = 3 * 2.0 * 64 * (32 * 9 * 28 * 28 + 6272 * 10);
    report("tandem_cnn_step", "64x1x28x28 conv32-bn-relu-pool-fc", flops, seconds_per_call([&] {
             Tensor h = max_pool2d(
                 relu(batch_norm(conv2d(x, w, b, {1, 1}, {1, 1}), rm, rv, g, be, true)), {2, 2});
             cross_entropy(linear(h.flatten(1), fw, fb), y).backward();
           }));
  });
  section("dropout", [&] {
    // The dropout of configs/fashion_mnist_cnn.yaml (batch 128 of 64x7x7 features, p 0.25),
    // forward: the mask's draws from the generator dominate.
    Tensor x = randn({128, 3136}, gen);
    report("tandem_dropout_fwd", "128x3136 p0.25", double(x.numel()),
           seconds_per_call([&] { dropout(x, 0.25, true, gen); }));
  });
  section("init", [&] {
    // resnet18's largest conv weight (512x512x3x3): kaiming_normal_ as torchvision initialises
    // it, and kaiming_uniform_(a = sqrt(5)) as nn.Conv2d does, both with PyTorch's exact draws.
    Tensor w = empty({512, 512, 3, 3});
    report("tandem_kaiming_normal_", "512x512x3x3", double(w.numel()),
           seconds_per_call([&] { nn::init::kaiming_normal_(w, 0.0, "fan_out", "relu", gen); }));
    report("tandem_kaiming_uniform_", "512x512x3x3", double(w.numel()), seconds_per_call([&] {
             nn::init::kaiming_uniform_(w, std::sqrt(5.0), "fan_in", "leaky_relu", gen);
           }));
  });
  section("norm", [&] {
    // layer_norm over a transformer's rows (4096 tokens x 768) and group_norm over a ResNet
    // stage (16x64x56x56, 32 groups): forward, and forward + backward with a given output
    // gradient (input, weight and bias gradients), on 1 thread and on every core.
    const int cores = std::max(1u, std::thread::hardware_concurrency());
    struct Case {
      const char* name;
      Shape x;
      int64_t groups;  // 0: layer_norm over the last dimension
    };
    const Case cases[] = {{"layer_norm", {4096, 768}, 0}, {"group_norm", {16, 64, 56, 56}, 32}};
    for (const Case& c : cases) {
      const int64_t C = c.groups ? c.x[1] : c.x.back();
      Tensor x = randn(c.x, gen).set_requires_grad(true);
      Tensor w = randn({C}, gen).set_requires_grad(true),
             b = randn({C}, gen).set_requires_grad(true);
      const Tensor gy = randn(c.x, gen);
      auto run = [&] {
        return c.groups ? group_norm(x, c.groups, w, b) : layer_norm(x, {C}, w, b);
      };
      const double elements = double(x.numel());  // the "gflops" column: G input elements/s
      for (int threads : {1, cores}) {
        tandem::kernels::cpu::set_cpu_threads(threads);
        char shape[64];
        std::snprintf(shape, sizeof shape, "%s, %d thread(s)", shape_str(c.x).c_str(), threads);
        report(("tandem_" + std::string(c.name) + "_fwd").c_str(), shape, elements,
               seconds_per_call([&] {
                 NoGradGuard ng;
                 run();
               }));
        report(("tandem_" + std::string(c.name) + "_fwd_bwd").c_str(), shape, elements,
               seconds_per_call([&] { run().backward(gy); }));
      }
    }
    tandem::kernels::cpu::set_cpu_threads(1);
  });
  section("threads", [&] {
    // tandem's own kernels (kernels/cpu/parallel_for.h) on 1 thread and on every core: the
    // elementwise, reduction, pooling and batch-norm work of a CNN layer (batch 128, 32 channels,
    // 28x28), forward and backward. (GEMMs and convolutions thread inside OpenBLAS and oneDNN.)
    const int cores = std::max(1u, std::thread::hardware_concurrency());
    Tensor x = randn({128, 32, 28, 28}, gen).set_requires_grad(true);
    Tensor g = ones({32}).set_requires_grad(true), be = zeros({32}).set_requires_grad(true);
    Tensor rm = zeros({32}), rv = ones({32});
    const Tensor gy = randn({128, 32, 14, 14}, gen);
    const double elements = double(x.numel());  // the "gflops" column: G input elements/s
    for (int threads : {1, cores}) {
      tandem::kernels::cpu::set_cpu_threads(threads);
      char shape[64];
      std::snprintf(shape, sizeof shape, "128x32x28x28, %d thread(s)", threads);
      report("relu", shape, elements, seconds_per_call([&] {
               NoGradGuard ng;
               relu(x);
             }));
      report("bias_grad_sum", shape, elements, seconds_per_call([&] {
               NoGradGuard ng;
               x.sum({0, 2, 3});
             }));
      report("bn_relu_pool_fwd_bwd", shape, elements, seconds_per_call([&] {
               Tensor h = max_pool2d(relu(batch_norm(x, rm, rv, g, be, true)), {2, 2});
               (h * gy).sum().backward();
             }));
    }
    tandem::kernels::cpu::set_cpu_threads(1);
  });
  return 0;
}
