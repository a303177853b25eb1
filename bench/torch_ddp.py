"""PyTorch DistributedDataParallel (gloo) training throughput for a tandem run config.

Reads a *resolved* tandem config (`tandem train CONFIG --print-config --set ...`), builds the same
nn.Sequential from model.layers (tandem's layer names are PyTorch's class names in lower case,
with PyTorch's argument names) or the same zoo ResNet (resnet18/34/50: torchvision's structure,
written out here without torchvision, as framework/nn/models/resnet.cpp is), the same optimizer
and scheduler, per-rank batch size data.batch_size, torch.set_num_threads(training.threads), and
trains on Fashion-MNIST read from the IDX .gz files in data.root with gzip + numpy (no
torchvision), or, for data.dataset synthetic, on random tensors of data.synthetic_shape with
random labels below data.synthetic_classes (made once, before timing: tandem's synthetic images
are class templates plus noise, which only the values differ from; for throughput the shape is
what counts). Like tandem's trainer, a world of one trains the bare model (no DDP wrapper, no
process group).

Each step: a DistributedSampler batch, normalised with data.mean/std and horizontally flipped
with probability 0.5 when data.horizontal_flip (in the training process: no loader workers),
zero_grad, forward and cross-entropy (under torch.autocast("cpu", torch.bfloat16) when
training.precision is bf16), backward (DDP all-reduces gradients), optimizer step,
scheduler step when scheduler.interval is step, and loss.item(). After --warmup steps and a
barrier, --steps steps are timed; rank 0 prints one JSON line with images_per_s (global images
over the slowest rank's time).

  /usr/bin/python3 bench/torch_ddp.py --nproc 2 --config /tmp/resolved.yaml --steps 100 --warmup 20

--nproc N starts N processes with torch.multiprocessing.spawn (rendezvous on 127.0.0.1). Without
it, RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT come from the environment, as torchrun sets them;
Debian's torch 1.13 torchrun fails on Python 3.11 before starting any worker (Std.from_str
returns None for the default --redirects), hence --nproc.
"""
import argparse
import gzip
import json
import math
import os
import sys
import time

import numpy as np
import yaml


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--config", required=True, help="resolved tandem config (--print-config)")
    p.add_argument("--steps", type=int, default=100, help="timed optimizer steps")
    p.add_argument("--warmup", type=int, default=20, help="untimed steps before timing")
    p.add_argument("--label", default="", help="name printed in the JSON line")
    p.add_argument("--nproc", type=int, default=0, help="spawn this many ranks (default: env)")
    p.add_argument("--port", type=int, default=29511, help="rendezvous port with --nproc")
    p.add_argument("--bind", action="store_true",
                   help="pin rank r to its training.threads CPUs, r*threads onwards mod ncpu "
                        "(as tandem-run: mpirun --map-by slot:PE=threads --bind-to core)")
    return p.parse_args()


args = parse_args()
cfg = yaml.safe_load(open(args.config))
threads = int(cfg["training"]["threads"])
# torch's CPU BLAS here is OpenBLAS (pthreads), whose pool ignores torch.set_num_threads: cap it
# before torch loads it, as tandem's trainer does with openblas_set_num_threads.
os.environ.setdefault("OPENBLAS_NUM_THREADS", str(threads))
os.environ.setdefault("OMP_NUM_THREADS", str(threads))

import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402
from torch import nn  # noqa: E402

torch.set_num_threads(threads)

LAYERS = {
    "linear": nn.Linear, "conv2d": nn.Conv2d, "batchnorm1d": nn.BatchNorm1d,
    "batchnorm2d": nn.BatchNorm2d, "relu": nn.ReLU, "maxpool2d": nn.MaxPool2d,
    "avgpool2d": nn.AvgPool2d, "flatten": nn.Flatten, "dropout": nn.Dropout,
    "leakyrelu": nn.LeakyReLU, "gelu": nn.GELU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh,
    "identity": nn.Identity,
}


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride, downsample):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride, downsample):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class ResNet(nn.Module):
    """The zoo's ResNet (framework/nn/models/resnet.cpp), i.e. torchvision's: a 7x7 stride-2
    conv1 + bn1 + relu + 3x3 stride-2 maxpool stem (also on small inputs: 32x32 reaches layer4
    as 1x1), four stages, adaptive average pool, fc; same module names as torchvision."""

    def __init__(self, block, layers, num_classes=1000, in_channels=3, zero_init_residual=False):
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        for s, (planes, n) in enumerate(zip((64, 128, 256, 512), layers)):
            stride = 1 if s == 0 else 2
            blocks = []
            for b in range(n):
                down = None
                if b == 0 and (stride != 1 or self.inplanes != planes * block.expansion):
                    down = nn.Sequential(
                        nn.Conv2d(self.inplanes, planes * block.expansion, 1, stride, bias=False),
                        nn.BatchNorm2d(planes * block.expansion))
                blocks.append(block(self.inplanes, planes, stride if b == 0 else 1, down))
                self.inplanes = planes * block.expansion
            setattr(self, f"layer{s + 1}", nn.Sequential(*blocks))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, Bottleneck):
                    nn.init.zeros_(m.bn3.weight)
                elif isinstance(m, BasicBlock):
                    nn.init.zeros_(m.bn2.weight)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


ZOO = {"resnet18": (BasicBlock, (2, 2, 2, 2)), "resnet34": (BasicBlock, (3, 4, 6, 3)),
       "resnet50": (Bottleneck, (3, 4, 6, 3))}


def build_model(spec):
    if spec["name"] in ZOO:
        block, layers = ZOO[spec["name"]]
        kw = {k: v for k, v in spec.items() if k != "name"}
        return ResNet(block, layers, **kw)
    if spec["name"] != "sequential":
        raise SystemExit(f"torch_ddp.py builds sequential models and {', '.join(ZOO)}, "
                         f"not {spec['name']}")
    layers = []
    for item in spec["layers"]:
        name, kw = (item, {}) if isinstance(item, str) else next(iter(item.items()))
        layers.append(LAYERS[name](**(kw or {})))
    return nn.Sequential(*layers)


def make_optimizer(spec, params):
    spec = dict(spec)
    name = spec.pop("name")
    if "betas" in spec:
        spec["betas"] = tuple(spec["betas"])
    cls = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[name]
    return cls(params, **spec)


def make_scheduler(spec, opt, steps_per_epoch, epochs):
    """tandem's make_scheduler for the two schedulers the Fashion-MNIST configs use."""
    if spec is None:
        return None, "epoch"
    spec = dict(spec)
    name = spec.pop("name")
    interval = spec.pop("interval", "step" if name == "onecyclelr" else "epoch")
    per_step = interval == "step"
    warmup_epochs = spec.pop("warmup_epochs", 0)
    warmup_start = spec.pop("warmup_start_factor", 0.1)
    total = epochs * steps_per_epoch if per_step else epochs
    warmup = warmup_epochs * (steps_per_epoch if per_step else 1)
    S = torch.optim.lr_scheduler
    if name == "cosineannealinglr":
        main = S.CosineAnnealingLR(opt, T_max=spec.get("T_max", max(total - warmup, 1)),
                                   eta_min=spec.get("eta_min", 0))
    elif name == "steplr":
        main = S.StepLR(opt, step_size=spec.get("step_size", 1), gamma=spec.get("gamma", 0.1))
    else:
        raise SystemExit(f"torch_ddp.py: scheduler {name} is not mapped")
    if warmup > 0:
        warm = S.LinearLR(opt, start_factor=warmup_start, end_factor=1.0, total_iters=warmup)
        main = S.SequentialLR(opt, [warm, main], milestones=[warmup])
    return main, interval


def read_idx(path, offset):
    with gzip.open(path, "rb") as f:
        return np.frombuffer(bytearray(f.read()), dtype=np.uint8, offset=offset)


def worker(rank, world):
    if args.bind:
        cpus = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpus[(rank * threads + i) % len(cpus)] for i in range(threads)})
    if world > 1:
        dist.init_process_group("gloo")
    torch.manual_seed(int(cfg["seed"]))

    d = cfg["data"]
    if d["dataset"] == "fashion_mnist":
        images = torch.from_numpy(read_idx(
            os.path.join(d["root"], "train-images-idx3-ubyte.gz"), 16).reshape(-1, 1, 28, 28))
        labels = torch.from_numpy(
            read_idx(os.path.join(d["root"], "train-labels-idx1-ubyte.gz"), 8).astype(np.int64))
        divisor = 255  # uint8 pixels
    elif d["dataset"] == "synthetic":  # random tensors of the shape (see the top of the file)
        gen = torch.Generator().manual_seed(int(cfg["seed"]))
        n = int(d["synthetic_train_size"])
        images = torch.rand((n, *map(int, d["synthetic_shape"])), generator=gen)
        labels = torch.randint(int(d["synthetic_classes"]), (n,), generator=gen)
        divisor = 1
    else:
        raise SystemExit("torch_ddp.py reads Fashion-MNIST and synthetic data only")
    normalise = bool(d["mean"])
    mean = torch.tensor(d["mean"] or [0.0], dtype=torch.float32).view(1, -1, 1, 1)
    std = torch.tensor(d["std"] or [1.0], dtype=torch.float32).view(1, -1, 1, 1)
    flip = bool(d["horizontal_flip"])
    if d.get("random_crop_padding", 0):
        raise SystemExit("torch_ddp.py: random_crop_padding is not mapped")
    batch = int(d["batch_size"])  # per rank, as in tandem

    sampler = torch.utils.data.DistributedSampler(
        range(len(labels)), num_replicas=world, rank=rank, shuffle=True, seed=int(cfg["seed"]),
        drop_last=bool(d.get("sampler_drop_last", False)))
    steps_per_epoch = (math.floor if d["drop_last"] else math.ceil)(sampler.num_samples / batch)
    max_steps = int(cfg["training"].get("max_steps_per_epoch", 0))
    if max_steps > 0:
        steps_per_epoch = min(steps_per_epoch, max_steps)

    model = build_model(cfg["model"])
    net = nn.parallel.DistributedDataParallel(
        model, bucket_cap_mb=float(cfg["distributed"]["bucket_cap_mb"]),
        find_unused_parameters=bool(cfg["distributed"]["find_unused_parameters"]),
        gradient_as_bucket_view=bool(cfg["distributed"]["gradient_as_bucket_view"]),
        broadcast_buffers=bool(cfg["distributed"]["broadcast_buffers"])) if world > 1 else model
    opt = make_optimizer(cfg["optimizer"], model.parameters())
    sched, interval = make_scheduler(cfg["scheduler"], opt, steps_per_epoch,
                                     int(cfg["training"]["epochs"]))
    criterion = nn.CrossEntropyLoss()
    # training.precision bf16: the forward pass and the loss under CPU autocast, as tandem's.
    bf16 = cfg["training"].get("precision", "fp32") == "bf16"
    net.train()

    def batches():
        epoch = 0
        while True:
            sampler.set_epoch(epoch)
            idx = torch.tensor(list(sampler), dtype=torch.int64)
            for s in range(steps_per_epoch):
                yield idx[s * batch:(s + 1) * batch], s + 1 == steps_per_epoch
            epoch += 1

    def step(idx):
        x = images[idx].float()
        if divisor != 1:
            x.div_(divisor)
        if normalise:
            x.sub_(mean).div_(std)
        if flip:
            m = torch.rand(len(idx)) < 0.5
            x[m] = x[m].flip(3)
        opt.zero_grad()
        with torch.autocast("cpu", torch.bfloat16, enabled=bf16):
            loss = criterion(net(x), labels[idx])
        loss.backward()
        opt.step()
        if sched is not None and interval == "step":
            sched.step()
        return loss.item()

    it = batches()
    for _ in range(args.warmup):
        idx, end = next(it)
        step(idx)
        if end and sched is not None and interval == "epoch":
            sched.step()
    if world > 1:
        dist.barrier()
    t0 = time.perf_counter()
    n_images = 0
    for _ in range(args.steps):
        idx, end = next(it)
        step(idx)
        n_images += len(idx) * world
        if end and sched is not None and interval == "epoch":
            sched.step()
    seconds = time.perf_counter() - t0
    if world > 1:
        t = torch.tensor([seconds], dtype=torch.float64)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        seconds = t.item()
    if rank == 0:
        print(json.dumps({
            "bench": "torch_ddp", "label": args.label, "torch": torch.__version__,
            "ranks": world, "threads": threads, "batch_per_rank": batch,
            "global_batch": batch * world, "steps": args.steps, "warmup": args.warmup,
            "parameters": sum(p.numel() for p in model.parameters()),
            "seconds": round(seconds, 3), "images_per_s": round(n_images / seconds, 1)}),
            flush=True)
    if world > 1:
        # Leave without tearing down DDP and the gloo group: in torch 1.13 here, destroying the
        # Reducer at exit joins a gloo thread that waits for the GIL the main thread holds (seen
        # as a rank hanging after its results were printed).
        dist.barrier()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


def spawned(rank, world, port):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
    worker(rank, world)


if __name__ == "__main__":
    if args.nproc > 0:
        torch.multiprocessing.spawn(spawned, args=(args.nproc, args.port), nprocs=args.nproc)
    else:
        worker(int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1")))
