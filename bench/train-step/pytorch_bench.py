#!/usr/bin/env python3
"""PyTorch CPU side of bench/train-step, plus an SGEMM reference (the machine's practical peak).

Measures one training step (forward + backward + plain SGD update, fp32, softmax cross-entropy)
of the paper's ReLU MLPs and prints ONE JSON object on stdout; progress goes to stderr. Run it with
the venv from infra/setup/bench-python.sh:
    py=$(bash infra/setup/bench-python.sh | tail -n1)
    $py bench/train-step/pytorch_bench.py               # train step + SGEMM
    $py bench/train-step/pytorch_bench.py --sgemm       # SGEMM only
    $py bench/train-step/pytorch_bench.py --no-sgemm --steps 100 --repeats 7
"""
import argparse
import ctypes
import glob
import json
import os
import platform
import statistics
import sys
import time

import numpy as np
import torch
from torch import nn

# The paper's two MLPs (layer sizes), and the small CNN of tfjs-bench.ts (conv 16, 32 of 3x3, same padding, each
# with ReLU and a 2x2 max-pool; dense 64; 10 classes) on 28x28x1.
MODELS = {"784-800-800-10": [784, 800, 800, 10], "784-1200-1200-10": [784, 1200, 1200, 10],
          "cnn-16-32-64": {"filters": [16, 32], "dense": 64}}
# (M, K, N) for C[M,N] = A[M,K] @ B[K,N]: a square reference, the first layer's forward at
# batch 128, and its weight gradient (X^T @ dY), whose skinny K=128 is where BLAS often loses.
SGEMM_SHAPES = [(1024, 1024, 1024), (128, 784, 800), (784, 128, 800)]
# Environment knobs that change BLAS/OpenMP behaviour; recorded so results can be interpreted
# (this machine sets OPENBLAS_CORETYPE, which forces numpy's OpenBLAS kernel choice).
ENV_KNOBS = ["OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
             "MKL_NUM_THREADS", "MKL_ENABLE_INSTRUCTIONS", "DNNL_MAX_CPU_ISA", "ONEDNN_MAX_CPU_ISA",
             "ATEN_CPU_CAPABILITY"]


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def mlp(sizes):
    layers = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes, sizes[1:])):
        layers.append(nn.Linear(fan_in, fan_out))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def cnn(spec):
    layers, c, side = [], 1, 28
    for f in spec["filters"]:
        layers += [nn.Conv2d(c, f, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
        c, side = f, side // 2
    layers += [nn.Flatten(), nn.Linear(side * side * c, spec["dense"]), nn.ReLU(), nn.Linear(spec["dense"], 10)]
    return nn.Sequential(*layers)


def layer_macs(spec):
    if isinstance(spec, list):
        return [fi * fo for fi, fo in zip(spec, spec[1:])]
    macs, c, side = [], 1, 28
    for f in spec["filters"]:
        macs.append(side * side * 9 * c * f)
        c, side = f, side // 2
    return macs + [side * side * c * spec["dense"], spec["dense"] * 10]


def step_flops(spec, batch):
    # 2*B*MACs per GEMM or convolution; forward + grad-weight for every layer, grad-input for all
    # but the first (the input needs no gradient). Bias/ReLU/pool/softmax/update: ignored.
    macs = layer_macs(spec)
    return 2 * batch * (3 * sum(macs) - macs[0])


def bench_train(name, sizes, a):
    torch.manual_seed(a.seed)
    model = mlp(sizes) if isinstance(sizes, list) else cnn(sizes)
    # Plain SGD: no momentum, no weight decay, same as the tfjs side's tf.train.sgd.
    opt = torch.optim.SGD(model.parameters(), lr=a.lr)
    loss_fn = nn.CrossEntropyLoss()
    # One fixed synthetic batch: this measures compute, not the input pipeline (tfjs side: same).
    x = torch.randn(a.batch, sizes[0]) if isinstance(sizes, list) else torch.randn(a.batch, 1, 28, 28)
    y = torch.randint(0, 10, (a.batch,))

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    for _ in range(a.warmup):
        step()
    rates = []
    for _ in range(a.repeats):
        t0 = time.perf_counter()
        for _ in range(a.steps):
            loss = step()
        rates.append(a.steps * a.batch / (time.perf_counter() - t0))
    assert torch.isfinite(loss).item(), "loss diverged: lower --lr"
    med = statistics.median(rates)
    flops = step_flops(sizes, a.batch)
    log(f"  {name}: {med:,.0f} examples/s (median of {a.repeats}), "
        f"{med / a.batch * flops / 1e9:.1f} GFLOP/s in GEMMs")
    return {"model": name, "batch": a.batch, "steps": a.steps, "warmup": a.warmup,
            "repeats": a.repeats, "examples_per_s": round(med, 1),
            "examples_per_s_all": [round(r, 1) for r in rates],
            "ms_per_step": round(1e3 * a.batch / med, 3),
            "gflop_per_step": round(flops / 1e9, 4),
            "gflop_per_s": round(med / a.batch * flops / 1e9, 2)}


def time_gflops(fn, flops, min_s, repeats):
    fn()  # warm-up: first call pays for thread-pool start-up and page faults
    # Size each repeat to ~min_s so timer resolution and call overhead don't matter.
    n, t = 1, 0.0
    while t < min_s / 4:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        t = time.perf_counter() - t0
        n *= 2
    n = max(1, int(n / 2 * min_s / max(t, 1e-9)))
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        rates.append(n * flops / (time.perf_counter() - t0) / 1e9)
    return statistics.median(rates), rates


def bench_sgemm(a):
    rng = np.random.default_rng(a.seed)
    out = []
    for m, k, n in SGEMM_SHAPES:
        A = rng.standard_normal((m, k), dtype=np.float32)
        B = rng.standard_normal((k, n), dtype=np.float32)
        C = np.empty((m, n), dtype=np.float32)
        tA, tB, tC = torch.from_numpy(A.copy()), torch.from_numpy(B.copy()), torch.empty(m, n)
        flops = 2 * m * n * k
        # out= on both sides: time the GEMM, not the allocator.
        row = {"m": m, "k": k, "n": n}
        for lib, fn in (("numpy", lambda: np.matmul(A, B, out=C)),
                        ("torch", lambda: torch.mm(tA, tB, out=tC))):
            med, rates = time_gflops(fn, flops, a.sgemm_seconds, a.repeats)
            row[f"{lib}_gflop_per_s"] = round(med, 2)
            row[f"{lib}_all"] = [round(r, 2) for r in rates]
        row["best"] = "numpy" if row["numpy_gflop_per_s"] > row["torch_gflop_per_s"] else "torch"
        row["peak_gflop_per_s"] = row[f"{row['best']}_gflop_per_s"]
        log(f"  sgemm {m}x{k}x{n}: numpy {row['numpy_gflop_per_s']:.1f}, "
            f"torch {row['torch_gflop_per_s']:.1f} GFLOP/s")
        out.append(row)
    return out


def torch_backend():
    # The few lines of torch.__config__.show() that say which kernels a CPU matmul runs.
    show = torch.__config__.show()
    keep = [ln.strip(" -") for ln in show.splitlines()
            if any(w in ln for w in ("Math Kernel", "MKL-DNN", "OpenMP", "CPU capability"))]
    blas = next((kv.split("=", 1)[1] for kv in show.replace(",", " ").split()
                 if kv.startswith("BLAS_INFO=")), None)
    return {"blas": blas, "summary": keep,
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "mkl": torch.backends.mkl.is_available(), "mkldnn": torch.backends.mkldnn.is_available(),
            "built_for_cuda": torch.version.cuda, "cuda_available": torch.cuda.is_available()}


def openblas(name):
    """A function of numpy's bundled OpenBLAS (symbols carry a scipy_ prefix / 64_ suffix), or None."""
    libdir = os.path.join(os.path.dirname(os.path.dirname(np.__file__)), "numpy.libs")
    for path in glob.glob(os.path.join(libdir, "libscipy_openblas*.so")):
        lib = ctypes.CDLL(path)
        for sym in (f"scipy_openblas_{name}64_", f"scipy_openblas_{name}", f"openblas_{name}"):
            if hasattr(lib, sym):
                return getattr(lib, sym)
    return None


def numpy_backend():
    cfg = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    info = {"blas": cfg.get("name"), "blas_version": cfg.get("version"),
            "build_config": cfg.get("openblas configuration")}
    # The build config names the build host's CPU; what matters is the kernel OpenBLAS picked
    # here at run time (OPENBLAS_CORETYPE overrides detection), so ask the library itself.
    corename, nthreads = openblas("get_corename"), openblas("get_num_threads")
    if corename:
        corename.restype = ctypes.c_char_p
        info["runtime_core"] = corename().decode()
    if nthreads:
        info["threads"] = nthreads()
    return info


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            return next(ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or None


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=50, help="timed steps per repeat")
    p.add_argument("--warmup", type=int, default=10, help="untimed steps before timing")
    p.add_argument("--repeats", type=int, default=5, help="timed repeats; the median is reported")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="torch intra-op threads")
    p.add_argument("--model", action="append", choices=list(MODELS), help="default: all")
    p.add_argument("--sgemm-seconds", type=float, default=0.3, help="length of one SGEMM repeat")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--sgemm", action="store_true", help="SGEMM reference only")
    g.add_argument("--no-sgemm", action="store_true", help="train step only")
    a = p.parse_args()

    torch.set_num_threads(a.threads)
    threads = torch.get_num_threads()
    # Same thread count for numpy, so the SGEMM comparison is like for like.
    set_np_threads = openblas("set_num_threads")
    if set_np_threads:
        set_np_threads(threads)
    log(f"pytorch {torch.__version__}: {threads} threads, {torch.backends.cpu.get_cpu_capability()}")
    res = {"framework": "pytorch", "torch": torch.__version__, "numpy": np.__version__,
           "python": platform.python_version(), "threads": threads, "cpu_count": os.cpu_count(),
           "cpu": cpu_model(), "dtype": "float32", "seed": a.seed,
           "env": {k: os.environ.get(k) for k in ENV_KNOBS if k in os.environ},
           # Another busy process on a 2-core box wrecks 2-thread GEMMs (threads wait on each
           # other at every barrier): a load average well above 0 flags a noisy run.
           "loadavg_before": round(os.getloadavg()[0], 2),
           "backend": {"torch": torch_backend(), "numpy": numpy_backend()},
           "results": [], "sgemm": []}
    if not a.sgemm:
        for name in a.model or MODELS:
            res["results"].append(bench_train(name, MODELS[name], a))
    if not a.no_sgemm:
        res["sgemm"] = bench_sgemm(a)
    res["loadavg_after"] = round(os.getloadavg()[0], 2)
    print(json.dumps(res))


if __name__ == "__main__":
    main()
