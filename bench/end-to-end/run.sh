#!/usr/bin/env bash
# bench/end-to-end: the mnist-paper recipe at a reduced epoch budget, through chrysalis (run.ts: its own Temporal +
# MinIO + workers, nothing cached) and as a plain PyTorch script (pytorch_recipe.py), back to back on this machine,
# RUNS pairs (alternating), then report.py prints the comparison and writes bench/end-to-end/results-<date>.json.
#   bash bench/end-to-end/run.sh
#   TEACHER_EPOCHS=3 STUDENT_EPOCHS=3 RUNS=1   the budget and the number of pairs
#   BENCH_SKIP_BUILD=1                         use the existing dist/
#   BENCH_OUT=FILE                             where the merged JSON goes
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
say() { printf '[end-to-end] %s\n' "$*" >&2; }
# CPU time the hypervisor gave to other guests (/proc/stat's 8th value, in 1/100 s): a side that lost much more
# than the other was measured on a busier machine, and the pair says so.
steal() { awk '/^cpu /{print $9}' /proc/stat; }
timed() { local s0; s0="$(steal)"; "$@"; say "  CPU steal during it: $(( ($(steal) - s0) ))/100 s"; }
te="${TEACHER_EPOCHS:-3}"; se="${STUDENT_EPOCHS:-3}"; runs="${RUNS:-1}"
out="${BENCH_OUT:-bench/end-to-end/results-$(date -u +%F).json}"
[ "${BENCH_SKIP_BUILD:-0}" = 1 ] || { say "building (npx tsc -p .)"; npx tsc -p .; }
py="$(bash infra/setup/bench-python.sh | tail -n1)"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
for i in $(seq 1 "$runs"); do
  say "pair $i/$runs: PyTorch script (teacher $te epochs, students $se)"
  timed "$py" bench/end-to-end/pytorch_recipe.py --teacher-epochs "$te" --student-epochs "$se" \
    --out "$tmp/pytorch-$i.json" >/dev/null
  say "pair $i/$runs: chrysalis"
  timed node dist/bench/end-to-end/run.js --teacher-epochs "$te" --student-epochs "$se" \
    --out "$tmp/chrysalis-$i.json" >/dev/null
done
python3 bench/end-to-end/report.py --out "$out" "$tmp"/pytorch-*.json "$tmp"/chrysalis-*.json
