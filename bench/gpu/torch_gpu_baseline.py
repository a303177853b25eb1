#!/usr/bin/env python3
"""PyTorch's half of the GPU benchmarks: the cases of bench_gpu.cpp with torch on cuda, on the
same GPU, one JSON object per line on stdout (bench/gpu/run.sh puts them beside tandem's).

Same knobs (TANDEM_BENCH_* environment variables, same defaults: see bench_gpu.cpp), same case
names, same method: CUDA events on the current stream around batches of calls after a warm-up,
the median over repeats, random inputs rotated past the L2 cache. Float32 math is IEEE unless the
case says tf32 (TF32 off for matmul and cuDNN, as tandem's default), and cuDNN is restricted to
deterministic algorithms unless TANDEM_BENCH_DETERMINISTIC=0 (tandem's default is deterministic).

Exits 0 with a message where `import torch` fails or torch sees no CUDA device.
"""
import json
import math
import os
import statistics
import sys
import time
import warnings


def env(name, default):
    value = os.environ.get(name, "")
    return value if value else default


def emit(side, bench, case, unit, value, ms, **extra):
    row = {"side": side, "bench": bench, "case": case, "unit": unit,
           "value": value if value is None or math.isfinite(value) else None,
           "ms": ms if ms is None or math.isfinite(ms) else None}
    row.update(extra)
    print(json.dumps(row), flush=True)


def emit_error(bench, case, unit, error):
    emit("torch", bench, case, unit, None, None, error=error)


def main():
    try:
        import torch
        import torch.nn.functional as F
    except Exception as e:  # ImportError, or a broken install
        print(f"no PyTorch: import torch failed: {e}")
        return 0
    if not torch.cuda.is_available():
        print("no CUDA device for PyTorch: torch.cuda.is_available() is False")
        return 0
    warnings.filterwarnings("ignore")  # TF32 flag deprecations and the like: not results

    started = time.monotonic()
    sections = [s for s in env("TANDEM_BENCH_SECTIONS", "gemm,conv2d,elementwise,train").split(",") if s]
    gemm_sizes = [int(s) for s in env("TANDEM_BENCH_GEMM_SIZES", "1024,4096,8192").split(",") if s]
    gemm_dtypes = [s for s in env("TANDEM_BENCH_GEMM_DTYPES", "fp32,tf32,bf16").split(",") if s]
    convs = []
    for c in env("TANDEM_BENCH_CONV", "64,64,64,56,56;64,128,128,28,28;64,256,256,14,14").split(";"):
        if c:
            f = [int(x) for x in c.split(",")]
            convs.append(f + [1] if len(f) == 5 else f)
    elements = int(env("TANDEM_BENCH_ELEMENTS", "268435456"))
    resnet_batch = int(env("TANDEM_BENCH_RESNET_BATCH", "256"))
    steps = max(1, int(env("TANDEM_BENCH_STEPS", "20")))
    train_repeats = max(1, int(env("TANDEM_BENCH_TRAIN_REPEATS", "3")))
    repeats = max(1, int(env("TANDEM_BENCH_REPEATS", "7")))
    warmup = max(0, int(env("TANDEM_BENCH_WARMUP", "3")))
    target_ms = float(env("TANDEM_BENCH_TARGET_MS", "2"))
    deterministic = env("TANDEM_BENCH_DETERMINISTIC", "1") != "0"
    deadline = float(env("TANDEM_BENCH_DEADLINE", "0"))
    here = os.path.dirname(os.path.abspath(__file__))
    cnn_config = env("TANDEM_BENCH_CNN_CONFIG", "")
    if not cnn_config:
        for d in [os.path.join(os.environ.get("TANDEM_BUNDLE", ""), "configs"),
                  os.path.join(here, "..", "configs"), os.path.join(here, "..", "..", "configs")]:
            if os.path.exists(os.path.join(d, "fashion_mnist_cnn.yaml")):
                cnn_config = os.path.join(d, "fashion_mnist_cnn.yaml")
                break

    dev = torch.device("cuda", 0)
    torch.cuda.set_device(dev)
    props = torch.cuda.get_device_properties(dev)
    l2_bytes = int(getattr(props, "L2_cache_size", 0)) or (64 << 20)  # unknown: assume large

    def set_tf32(matmul):
        torch.backends.cuda.matmul.allow_tf32 = matmul
        torch.backends.cudnn.allow_tf32 = False  # tandem's convolutions: IEEE float32
        torch.backends.cudnn.deterministic = deterministic
        torch.backends.cudnn.benchmark = False

    set_tf32(False)
    print(json.dumps({"side": "torch", "info": True, "device": torch.cuda.get_device_name(dev),
                      "torch": torch.__version__, "cuda": torch.version.cuda,
                      "cudnn": torch.backends.cudnn.version(), "deterministic": deterministic,
                      "l2_bytes": l2_bytes}), flush=True)

    gen = torch.Generator(device=dev)
    gen.manual_seed(0)

    def randn(shape, scale=1.0, dtype=torch.float32):
        t = torch.randn(shape, device=dev, generator=gen)
        if scale != 1.0:
            t.mul_(scale)
        return t.to(dtype)

    def rotation(set_bytes):
        return 1 if set_bytes <= 0 else max(1, min(16, -(-4 * l2_bytes // set_bytes)))

    def ms_per_call(fn):
        """Median device ms per call of fn(i): warm-up, a call to size the batches, timed batches."""
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        i = 0
        for _ in range(warmup):
            fn(i)
            i += 1
        start.record()
        fn(i)
        i += 1
        stop.record()
        stop.synchronize()
        one = start.elapsed_time(stop)
        inner = max(1, min(1000, math.ceil(target_ms / max(one, 1e-3))))
        per_call = []
        for _ in range(repeats):
            start.record()
            for _ in range(inner):
                fn(i)
                i += 1
            stop.record()
            stop.synchronize()
            per_call.append(start.elapsed_time(stop) / inner)
        return statistics.median(per_call)

    def run_case(bench, case, unit, fn):
        if deadline > 0 and time.monotonic() - started > deadline:
            emit_error(bench, case, unit, "skipped: past TANDEM_BENCH_DEADLINE")
            return
        try:
            fn()
        except Exception as e:
            emit_error(bench, case, unit, f"{type(e).__name__}: {e}".strip()[:500])
        finally:
            torch.cuda.synchronize()

    # --- gemm ---------------------------------------------------------------------------------
    def bench_gemm():
        for dtype in gemm_dtypes:
            dt = torch.bfloat16 if dtype == "bf16" else torch.float32
            for s in gemm_sizes:
                case = f"{dtype} {s}x{s}x{s}"
                flops = 2.0 * s * s * s

                def gemm():
                    set_tf32(dtype == "tf32")
                    sets = rotation(2 * s * s * (2 if dt == torch.bfloat16 else 4))
                    a = [randn((s, s), 1 / math.sqrt(s), dt) for _ in range(sets)]
                    b = [randn((s, s), 1.0, dt) for _ in range(sets)]
                    with torch.no_grad():
                        ms = ms_per_call(lambda i: torch.matmul(a[i % sets], b[i % sets]))
                    emit("torch", "gemm", case, "TFLOP/s", flops / (ms * 1e-3) * 1e-12, ms, sets=sets)

                run_case("gemm", case, "TFLOP/s", gemm)
        set_tf32(False)

    # --- conv2d -------------------------------------------------------------------------------
    def bench_conv2d():
        set_tf32(False)
        for n, c, co, h, w, stride in convs:
            oh, ow = (h + 2 - 3) // stride + 1, (w + 2 - 3) // stride + 1
            shape = f"{n}x{c}x{h}x{w}->{co} k3" + (f" s{stride}" if stride != 1 else "")
            fwd_flops = 2.0 * n * co * oh * ow * c * 9
            state = {}

            def make():
                if state:
                    return state
                sets = rotation(n * (c * h * w + co * oh * ow) * 4)
                state["x"] = [randn((n, c, h, w)).requires_grad_(True) for _ in range(sets)]
                state["gy"] = [randn((n, co, oh, ow)) for _ in range(sets)]
                state["w"] = randn((co, c, 3, 3), 1 / math.sqrt(c * 9)).requires_grad_(True)
                state["b"] = randn((co,), 0.1).requires_grad_(True)
                return state

            def fwd():
                st = make()
                xs, wt, bias = st["x"], st["w"], st["b"]
                with torch.no_grad():
                    ms = ms_per_call(lambda i: F.conv2d(xs[i % len(xs)], wt, bias, stride, 1))
                emit("torch", "conv2d", shape + " fwd", "TFLOP/s", fwd_flops / (ms * 1e-3) * 1e-12, ms)

            def fwd_bwd():
                st = make()
                xs, gys, wt, bias = st["x"], st["gy"], st["w"], st["b"]

                def call(i):
                    x = xs[i % len(xs)]
                    x.grad = wt.grad = bias.grad = None  # zero_grad(set_to_none=True)
                    F.conv2d(x, wt, bias, stride, 1).backward(gys[i % len(gys)])

                ms = ms_per_call(call)
                emit("torch", "conv2d", shape + " fwd+bwd", "TFLOP/s",
                     3 * fwd_flops / (ms * 1e-3) * 1e-12, ms)

            run_case("conv2d", shape + " fwd", "TFLOP/s", fwd)
            run_case("conv2d", shape + " fwd+bwd", "TFLOP/s", fwd_bwd)
            state.clear()

    # --- elementwise --------------------------------------------------------------------------
    def bench_elementwise():
        e = elements
        cols = max(1, min(e, 4096))
        rows = max(1, e // cols)
        m = f"{e >> 20}M" if e % (1 << 20) == 0 else str(e)
        state = {}

        def make():
            if not state:
                state["a"] = randn((e,))
                state["c"] = randn((e,))
                state["x"] = state["a"][: rows * cols].view(rows, cols)
                state["bias"] = randn((cols,))
            return state

        f = 4
        ops = [
            (f"add {m} f32", 3 * f * e, lambda st: st["a"] + st["c"]),
            (f"relu {m} f32", 2 * f * e, lambda st: torch.relu(st["a"])),
            (f"bcast add [{rows},{cols}]+[{cols}] f32", 2 * f * rows * cols + f * cols,
             lambda st: st["x"] + st["bias"]),
        ]
        with torch.no_grad():
            for name, nbytes, op in ops:
                def run(name=name, nbytes=nbytes, op=op):
                    st = make()
                    ms = ms_per_call(lambda i: op(st))
                    emit("torch", "elementwise", name, "GB/s", nbytes / (ms * 1e-3) * 1e-9, ms)

                run_case("elementwise", name, "GB/s", run)
        state.clear()

    # --- training steps -----------------------------------------------------------------------
    def train_steps(case, model, optimizer, shape, classes, batch):
        def run():
            set_tf32(False)
            model.to(dev).train()
            sets = min(4, rotation(batch * math.prod(shape) * 4))
            xs = [randn((batch, *shape)) for _ in range(sets)]
            ys = [torch.randint(0, classes, (batch,), device=dev, generator=gen) for _ in range(sets)]

            def step(i):
                optimizer.zero_grad(set_to_none=True)
                loss = F.cross_entropy(model(xs[i % sets]), ys[i % sets])
                loss.backward()
                optimizer.step()

            i = 0
            for _ in range(max(warmup, 2)):
                step(i)
                i += 1
            start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            per_step, wall = [], []
            for _ in range(train_repeats):
                torch.cuda.synchronize()
                t0 = time.perf_counter()
                start.record()
                for _ in range(steps):
                    step(i)
                    i += 1
                stop.record()
                stop.synchronize()
                per_step.append(start.elapsed_time(stop) / steps)
                torch.cuda.synchronize()
                wall.append((time.perf_counter() - t0) * 1e3 / steps)
            ms = statistics.median(per_step)
            emit("torch", "train", case, "images/s", batch / (ms * 1e-3), ms,
                 wall_ms=statistics.median(wall), batch=batch, steps=steps)

        run_case("train", case, "images/s", run)

    def bench_train():
        # The CNN of the YAML config: nn.Sequential of its layers (PyTorch class names in lower
        # case with PyTorch's arguments, as tandem's builder reads them) and its optimizer.
        name = os.path.basename(cnn_config) if cnn_config else "fashion_mnist_cnn.yaml"
        try:
            import yaml
            with open(cnn_config) as fh:
                cfg = yaml.safe_load(fh)
            torch.manual_seed(0)
            classes_by_lower = {k.lower(): getattr(torch.nn, k) for k in dir(torch.nn)
                                if isinstance(getattr(torch.nn, k), type)}
            layers = []
            for spec in cfg["model"]["layers"]:
                kind, args = (spec, {}) if isinstance(spec, str) else next(iter(spec.items()))
                layers.append(classes_by_lower[kind](**(args or {})))
            model = torch.nn.Sequential(*layers)
            opt = dict(cfg["optimizer"])
            if opt.pop("name") != "sgd":
                raise ValueError("only an sgd optimizer is mirrored here")
            optimizer = torch.optim.SGD(model.parameters(), **opt)
            data = cfg.get("data", {})
            batch = int(data.get("batch_size", 64))
            if data.get("dataset", "fashion_mnist") == "synthetic":
                shape = tuple(data.get("synthetic_shape", [1, 8, 8]))
                classes = int(data.get("synthetic_classes", 4))
            else:
                shape, classes = (1, 28, 28), 10
        except Exception as e:
            emit_error("train", f"cnn {name}", "images/s", f"{type(e).__name__}: {e}")
        else:
            train_steps(f"cnn {name} b{batch}", model, optimizer, shape, classes, batch)

        case = f"resnet18 3x32x32 b{resnet_batch}"
        try:
            import torchvision
            torch.manual_seed(0)
            model = torchvision.models.resnet18(num_classes=10)
        except Exception as e:
            emit_error("train", case, "images/s", f"torchvision: {type(e).__name__}: {e}")
            return
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
        train_steps(case, model, optimizer, (3, 32, 32), 10, resnet_batch)

    for section, fn in [("gemm", bench_gemm), ("conv2d", bench_conv2d),
                        ("elementwise", bench_elementwise), ("train", bench_train)]:
        if section in sections:
            try:
                fn()
            except Exception as e:
                emit_error(section, "(section)", "", f"{type(e).__name__}: {e}")
            torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    sys.exit(main())
