#!/usr/bin/python3
"""PyTorch's numbers for the shapes of bench_ops.cpp, on one thread, same JSON lines.

Run with Debian's torch: /usr/bin/python3 bench/torch_baseline.py
"""
import json
import math
import os
import time

import torch
import torch.nn.functional as F

torch.set_num_threads(1)
torch.manual_seed(0)


def seconds_per_call(fn):
    fn()
    reps = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        s = time.perf_counter() - t0
        if s > 0.5:
            return s / reps
        reps *= 2


def report(name, shape, flops, sec):
    print(json.dumps({"bench": name, "shape": shape, "ms": round(sec * 1e3, 4), "gflops": round(flops / sec * 1e-9, 2)}), flush=True)


for n in (128, 256, 512, 1024):
    a, b = torch.randn(n, n), torch.randn(n, n)
    report("torch_mm", f"{n}x{n}x{n}", 2.0 * n ** 3, seconds_per_call(lambda: torch.mm(a, b)))

N, Ci, Co, H, W, K = 32, 32, 64, 28, 28, 3
x = torch.randn(N, Ci, H, W, requires_grad=True)
w = (torch.randn(Co, Ci, K, K) * 0.05).requires_grad_()
bias = torch.zeros(Co, requires_grad=True)
fwd = 2.0 * N * Co * Ci * K * K * H * W


def conv_fwd():
    with torch.no_grad():
        F.conv2d(x, w, bias, padding=1)


report("torch_conv2d_fwd", "32x32x28x28->64 k3", fwd, seconds_per_call(conv_fwd))
report("torch_conv2d_fwd_bwd", "32x32x28x28->64 k3", 3 * fwd,
       seconds_per_call(lambda: F.conv2d(x, w, bias, padding=1).sum().backward()))

x = torch.randn(64, 784)
y = torch.randint(0, 10, (64,))
w1 = (torch.randn(256, 784) * 0.03).requires_grad_()
b1 = torch.zeros(256, requires_grad=True)
w2 = (torch.randn(10, 256) * 0.06).requires_grad_()
b2 = torch.zeros(10, requires_grad=True)
report("torch_mlp_step", "64x784-256-10", 3 * 2.0 * 64 * (784 * 256 + 256 * 10),
       seconds_per_call(lambda: F.cross_entropy(F.linear(F.relu(F.linear(x, w1, b1)), w2, b2), y).backward()))

x = torch.randn(64, 1, 28, 28)
w = (torch.randn(32, 1, 3, 3) * 0.3).requires_grad_()
b = torch.zeros(32, requires_grad=True)
g = torch.ones(32, requires_grad=True)
be = torch.zeros(32, requires_grad=True)
rm, rv = torch.zeros(32), torch.ones(32)
fw = (torch.randn(10, 6272) * 0.01).requires_grad_()
fb = torch.zeros(10, requires_grad=True)


def cnn_step():
    h = F.max_pool2d(F.relu(F.batch_norm(F.conv2d(x, w, b, padding=1), rm, rv, g, be, True)), 2)
    F.cross_entropy(F.linear(h.flatten(1), fw, fb), y).backward()


report("torch_cnn_step", "64x1x28x28 conv32-bn-relu-pool-fc", 3 * 2.0 * 64 * (32 * 9 * 28 * 28 + 6272 * 10),
       seconds_per_call(cnn_step))


# dropout's forward on configs/fashion_mnist_cnn.yaml's features (the "dropout" section).
xd = torch.randn(128, 3136)
report("torch_dropout_fwd", "128x3136 p0.25", xd.numel(),
       seconds_per_call(lambda: F.dropout(xd, 0.25, training=True)))

# kaiming_normal_ and kaiming_uniform_ of resnet18's largest conv weight (the "init" section).
wi = torch.empty(512, 512, 3, 3)
report("torch_kaiming_normal_", "512x512x3x3", wi.numel(),
       seconds_per_call(lambda: torch.nn.init.kaiming_normal_(wi, mode="fan_out", nonlinearity="relu")))
report("torch_kaiming_uniform_", "512x512x3x3", wi.numel(),
       seconds_per_call(lambda: torch.nn.init.kaiming_uniform_(wi, a=math.sqrt(5))))

# layer_norm and group_norm, forward and forward + backward, on 1 thread and on every core (the
# "norm" section of bench_ops.cpp).
cores = os.cpu_count() or 1
for name, shape, groups in (("layer_norm", (4096, 768), 0), ("group_norm", (16, 64, 56, 56), 32)):
    C = shape[1] if groups else shape[-1]
    x = torch.randn(*shape, requires_grad=True)
    w, b = torch.randn(C, requires_grad=True), torch.randn(C, requires_grad=True)
    gy = torch.randn(*shape)

    def run():
        return F.group_norm(x, groups, w, b) if groups else F.layer_norm(x, (C,), w, b)

    def fwd():
        with torch.no_grad():
            run()

    for threads in (1, cores):
        torch.set_num_threads(threads)
        label = f"[{', '.join(map(str, shape))}], {threads} thread(s)"
        report(f"torch_{name}_fwd", label, x.numel(), seconds_per_call(fwd))
        report(f"torch_{name}_fwd_bwd", label, x.numel(), seconds_per_call(lambda: run().backward(gy)))
torch.set_num_threads(1)
