#!/usr/bin/env bash
# Python TensorFlow 2.18.1 (CPU) for the teacher-import tests: they write a SavedModel with real
# TensorFlow and its outputs on fixed inputs, to compare with what our native loader computes.
# Installed from the wheel the native-tf build cached (same TF version as libtensorflow), its other
# dependencies from PyPI. Idempotent; the venv's python is the last stdout line.
#   CHRYSALIS_CACHE      the venv goes in $CHRYSALIS_CACHE/py-tf (default ~/.cache/chrysalis)
#   CHRYSALIS_PY_TF      a pre-installed python with tensorflow 2.18: checked and used as is
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"; . "$here/lib.sh"
VENV="$CHRYSALIS_CACHE/py-tf"
SMOKE='import tensorflow as tf; assert tf.__version__.startswith("2.18"), tf.__version__; tf.constant(1.0) + 1'

if [ -n "${CHRYSALIS_PY_TF:-}" ]; then
  "$CHRYSALIS_PY_TF" -c "$SMOKE" >/dev/null 2>&1 \
    || die "python tensorflow" "$CHRYSALIS_PY_TF -c '$SMOKE'" CHRYSALIS_PY_TF "CHRYSALIS_PY_TF cannot import TF 2.18."
  echo "$CHRYSALIS_PY_TF"; exit 0
fi

shopt -s nullglob
wheels=("$CHRYSALIS_CACHE"/native-tf/wheels/tensorflow_cpu-2.18.1-*.whl)
[ "${#wheels[@]}" -gt 0 ] || die "python tensorflow" "ls $CHRYSALIS_CACHE/native-tf/wheels" CHRYSALIS_PY_TF \
  "No cached tensorflow_cpu-2.18.1 wheel (infra/setup/native-tf.sh downloads it)."
wheel="${wheels[0]}"
base="$(command -v python3 || true)"
[ -n "$base" ] || die "python tensorflow" "command -v python3" CHRYSALIS_PY_TF "No python3 on PATH."

# The stamp records the wheel and interpreter: a change rebuilds the venv from scratch.
want="$(printf '%s\n' "$("$base" -c 'import sys; print(sys.version)')" "$(basename "$wheel")" | sha256sum | cut -d' ' -f1)"
stamp="$VENV/.chrysalis-stamp"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && "$VENV/bin/python" -c '' 2>/dev/null; then
  say "python-tf: venv up to date ($VENV)"
  echo "$VENV/bin/python"; exit 0
fi
if [ -e "$VENV" ]; then
  [ -f "$VENV/pyvenv.cfg" ] || die "python tensorflow" "test -f $VENV/pyvenv.cfg" CHRYSALIS_PY_TF "$VENV is not a venv; move it away."
  rm -rf "$VENV"
fi
mkdir -p "$CHRYSALIS_CACHE"
run_or_die "the python-tf venv (python3 -m venv)" CHRYSALIS_PY_TF -- "$base" -m venv "$VENV"
loud "python-tf: installing $(basename "$wheel") and its dependencies (first time: ~1-3 min)"
run_or_die "tensorflow 2.18.1 (pip install of the cached wheel)" CHRYSALIS_PY_TF -- \
  "$VENV/bin/python" -m pip install --only-binary=:all: --progress-bar off "$wheel"
run_or_die "a working tensorflow (import smoke test)" CHRYSALIS_PY_TF -- "$VENV/bin/python" -c "$SMOKE"
echo "$want" >"$stamp"
echo "$VENV/bin/python"
