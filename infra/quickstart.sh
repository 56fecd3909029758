#!/usr/bin/env bash
# The README's first command: install what is missing, build, start the dev stack, run the main job
# (distillationPipeline, preset mnist-quick) through Temporal with live progress, then stop the stack.
# Extra arguments go to `chrysalis run distill`, e.g. --preset mnist-paper or --set student.train.epochs=20.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
started=$(date +%s)
data="${CHRYSALIS_DATA_DIR:-$root/.data}"
bash infra/setup.sh
echo "[quickstart] building"
npx tsc -p tsconfig.json
echo "[quickstart] starting the dev stack (Temporal, MinIO, pipeline and compute workers); logs in $data/logs"
rm -f "$data/dev-stack.ready"
CHRYSALIS_DEV_QUIET=1 node dist/infra/dev-stack-main.js &
stack=$!
trap 'kill -INT $stack 2>/dev/null || true; wait $stack 2>/dev/null || true' EXIT
for _ in $(seq 1 240); do
  [ -f "$data/dev-stack.ready" ] && break
  kill -0 $stack 2>/dev/null || { echo "[quickstart] the dev stack failed to start; see $data/logs" >&2; exit 1; }
  sleep 0.5
done
args=("$@")
[ ${#args[@]} -eq 0 ] && args=(--preset mnist-quick)
./chrysalis run distill "${args[@]}"
echo "[quickstart] done in $(( $(date +%s) - started ))s. Report: ./chrysalis report <workflowId>; Temporal UI while the stack runs: npm run dev"
