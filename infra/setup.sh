#!/usr/bin/env bash
# Installs everything chrysalis needs, from package registries only, idempotently.
# A second run with everything in place is a quick no-op. See README "Set-up" for the overrides.
#   CHRYSALIS_TOOLS_DIR   where binaries go (default: <repo>/.tools, git-ignored)
#   CHRYSALIS_CACHE       per-machine cache of downloads and builds (default: ~/.cache/chrysalis)
#   CHRYSALIS_DEVICE      cpu | gpu — which tfjs-node flavour gets its native addon (default: cpu)
#   TEMPORAL_CLI_PATH, MINIO_BINARY, CHRYSALIS_TF_LIB_DIR, CHRYSALIS_FASHION_MNIST_DIR: pre-installed copies
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
[ "${1:-}" = "--quiet" ] && export CHRYSALIS_SETUP_QUIET=1
. "$root/infra/setup/lib.sh"
TOOLS="${CHRYSALIS_TOOLS_DIR:-$root/.tools}"
DEVICE="${CHRYSALIS_DEVICE:-cpu}"

node -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)' \
  || die "Node.js >= 20" "node --version" PATH "Found $(node --version)."

# tfjs-node's own install script downloads libtensorflow from a host we cannot reach, so npm
# runs no install scripts here; the native addon is built by native-tf.sh below instead.
stamp="$root/node_modules/.chrysalis-lock-sha"
want="$(sha256sum "$root/package-lock.json" | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  loud "npm: installing node_modules (npm ci --ignore-scripts)"
  (cd "$root" && run_or_die "the npm dependencies" npm_config_registry -- npm ci --ignore-scripts --no-audit --no-fund)
  echo "$want" >"$stamp"
else
  say "npm: node_modules up to date"
fi

bash "$root/infra/setup/temporal.sh" "$TOOLS"
bash "$root/infra/setup/minio.sh" "$TOOLS"
bash "$root/infra/setup/native-tf.sh" "$DEVICE" "$root"
bash "$root/infra/setup/datasets.sh"
say "done: tools in $TOOLS/bin (add it to PATH to use \`temporal\` directly)"
