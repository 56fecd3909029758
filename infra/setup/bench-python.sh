#!/usr/bin/env bash
# Python side of bench/train-step: an isolated venv with pinned numpy + a PyTorch that runs on CPU.
# Idempotent: a second run is a quick no-op. The venv's python is printed as the last stdout line
# (everything else goes to stderr), so a driver can do `py=$(bash bench-python.sh | tail -n1)`.
#   CHRYSALIS_CACHE         the venv goes in $CHRYSALIS_CACHE/bench-venv (default ~/.cache/chrysalis)
#   CHRYSALIS_BENCH_PYTHON  a pre-installed python with torch + numpy: checked and used as is
#
# Why torch from PyPI with --no-deps plus an explicit list: only PyPI is reachable, and PyPI has no
# CPU-only x86_64 torch (the +cpu wheels live on PyTorch's own index). The PyPI wheel is a CUDA
# build, but on a machine without a GPU it runs on CPU with MKL + oneDNN (AVX-512), i.e. it is the
# torch people actually benchmark. Its .so files DT_NEED the CUDA runtime libraries, so those
# wheels must be present for `import torch` (they are never used here). What --no-deps drops is
# only what import does not need: triton (torch.compile on GPU), cuda-bindings, cusolver (loaded
# lazily for GPU linalg), setuptools: ~2.3 GiB downloaded (4.1 GiB installed) instead of ~2.9 GiB,
# and pinning every wheel makes the venv reproducible. Debian's python3-torch was rejected: it is
# 1.13 (2022), installs system-wide for /usr/bin/python3, and its BLAS is whichever libblas3 is set.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"; . "$here/lib.sh"
VENV="$CHRYSALIS_CACHE/bench-venv"

# `pip install --no-deps` of exactly these: this list is the lock file.
PINS=(
  numpy==2.4.6
  torch==2.15.0
  # what torch imports
  filelock==4.3.1 typing-extensions==4.16.0 sympy==1.14.0 mpmath==1.3.0 networkx==3.6.1
  jinja2==3.1.6 markupsafe==3.0.4 fsspec==2026.9.0
  # CUDA 13 runtime libraries the torch wheel links against (needed to load, unused on CPU)
  nvidia-cuda-runtime==13.2.86 nvidia-cuda-cupti==13.2.86 nvidia-cuda-nvrtc==13.2.86
  nvidia-cublas==13.4.1.3 nvidia-cudnn-cu13==9.26.0.51 nvidia-cufft==12.2.0.57
  nvidia-cufile==1.17.1.22 nvidia-cusparse==12.7.10.12 nvidia-cusparselt-cu13==0.8.1
  nvidia-nccl-cu13==2.30.7 nvidia-nvshmem-cu13==3.7.2 nvidia-nvjitlink==13.5.37
)
# A tiny training step, not just an import: catches a missing .so and a broken autograd alike.
SMOKE='import numpy, torch; m = torch.nn.Linear(4, 2); m(torch.ones(3, 4)).sum().backward(); assert m.weight.grad is not None'

if [ -n "${CHRYSALIS_BENCH_PYTHON:-}" ]; then
  "$CHRYSALIS_BENCH_PYTHON" -c "$SMOKE" >/dev/null 2>&1 \
    || die "the benchmark python (torch + numpy)" "$CHRYSALIS_BENCH_PYTHON -c '$SMOKE'" CHRYSALIS_BENCH_PYTHON \
         "CHRYSALIS_BENCH_PYTHON=$CHRYSALIS_BENCH_PYTHON cannot import torch and numpy."
  say "bench-python: using CHRYSALIS_BENCH_PYTHON as is"
  echo "$CHRYSALIS_BENCH_PYTHON"; exit 0
fi

base="$(command -v python3 || true)"
[ -n "$base" ] || die "the benchmark venv" "command -v python3" CHRYSALIS_BENCH_PYTHON "No python3 on PATH."
# numpy 2.4 needs >= 3.11; torch 2.15.0 has wheels for 3.10-3.14.
"$base" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || die "the benchmark venv" "$base --version" CHRYSALIS_BENCH_PYTHON "Python >= 3.11 needed, found $("$base" --version 2>&1)."

# The stamp records the pins and base interpreter; any change rebuilds the venv from scratch, so
# no stale wheel from an older pin set survives in it.
want="$(printf '%s\n' "$("$base" -c 'import sys; print(sys.version)')" "${PINS[@]}" | sha256sum | cut -d' ' -f1)"
stamp="$VENV/.chrysalis-pins-sha"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && "$VENV/bin/python" -c '' 2>/dev/null; then
  say "bench-python: venv up to date ($VENV), nothing to do"
  echo "$VENV/bin/python"; exit 0
fi

# Only ever delete something that is recognisably a venv (it has pyvenv.cfg).
if [ -e "$VENV" ]; then
  [ -f "$VENV/pyvenv.cfg" ] || die "the benchmark venv" "test -f $VENV/pyvenv.cfg" CHRYSALIS_BENCH_PYTHON \
    "$VENV exists but is not a venv; move it away."
  loud "bench-python: pins changed or venv incomplete; rebuilding $VENV"
  rm -rf "$VENV"
fi
start=$SECONDS
mkdir -p "$CHRYSALIS_CACHE"
run_or_die "the benchmark venv (python3 -m venv; on Debian's python3 that needs the python3-venv package)" \
  CHRYSALIS_BENCH_PYTHON -- "$base" -m venv "$VENV"
loud "bench-python: installing numpy + torch 2.15.0 (first time: ~2.3 GiB from PyPI, 4.1 GiB on disk, ~1-3 min)"
# --only-binary: never fall back to building torch/numpy from source on a 2-core machine.
run_or_die "numpy + torch (pip install --no-deps of the pinned wheels)" CHRYSALIS_BENCH_PYTHON -- \
  "$VENV/bin/python" -m pip install --no-deps --only-binary=:all: --progress-bar off "${PINS[@]}"
run_or_die "a working torch (the import/backward smoke test; a missing CUDA .so shows here)" \
  CHRYSALIS_BENCH_PYTHON -- "$VENV/bin/python" -c "$SMOKE"
echo "$want" >"$stamp"
loud "bench-python: ready in $((SECONDS - start)) s: $VENV"
echo "$VENV/bin/python"
