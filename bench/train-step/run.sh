#!/usr/bin/env bash
# bench/train-step end to end, one run on this machine: build, the PyTorch venv, tfjs native,
# tfjs WASM, PyTorch CPU, an SGEMM reference with OPENBLAS_CORETYPE unset; merges the JSONs into
# bench/train-step/results-<date>.json (same-day reruns overwrite it) and prints Markdown tables.
#   bash bench/train-step/run.sh
#   BENCH_MIN_IDLE=90      wait until the CPUs are at least this % idle (over 5 s) before starting
#   BENCH_LOAD_WAIT_S=600  ...for at most this long, then run anyway (the run is then flagged)
#   BENCH_RETRIES=2        redo a part this many times when other processes used > 10 % of the CPUs
#   BENCH_SKIP_BUILD=1     use the existing dist/ (e.g. while other files do not compile)
#   BENCH_OUT=FILE         where the merged JSON goes (default bench/train-step/results-<date>.json)
# Takes ~2 min on a quiet machine (WASM ~40 s, kept small on purpose: it is ~15-30× slower).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
say() { printf '[train-step] %s\n' "$*" >&2; }

if [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
  say "building (npx tsc -p .)"
  npx tsc -p .
fi
py="$(bash infra/setup/bench-python.sh | tail -n1)"

# CPU time in clock ticks from /proc/stat's first line: busy (user nice system irq softirq steal)
# and idle (idle iowait).
busy_ticks() { awk 'NR == 1 { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat; }
idle_ticks() { awk 'NR == 1 { print $5 + $6; exit }' /proc/stat; }
# CPU ticks of this shell's finished children (cutime + cstime; grandchildren are folded in as
# each level waits for its own), so busy - own = what OTHER processes used meanwhile.
own_ticks() { awk '{ print $16 + $17 }' /proc/$$/stat; }
load() { cut -d' ' -f1 /proc/loadavg; }
idle_pct() { # % of CPU time idle over the next 5 s
  local b0 i0 b1 i1; b0=$(busy_ticks); i0=$(idle_ticks); sleep 5; b1=$(busy_ticks); i1=$(idle_ticks)
  echo $(( 100 * (i1 - i0) / (b1 - b0 + i1 - i0 + 1) ))
}

# 2 cores: another busy process doesn't just take its share, it wrecks 2-thread GEMMs (OpenMP and
# OpenBLAS threads spin at every barrier), so each part waits for a quiet machine first. The gate
# is CPU idle over 5 s, not the load average, which lags a finished job by minutes.
min_idle="${BENCH_MIN_IDLE:-90}"; wait_s="${BENCH_LOAD_WAIT_S:-600}"; retries="${BENCH_RETRIES:-2}"
max_foreign=10   # % of the CPUs other processes may use during a part (same limit in report.ts)
wait_quiet() {
  local t0=$SECONDS
  while idle_now="$(idle_pct)"; (( idle_now < min_idle )); do
    if (( SECONDS - t0 >= wait_s )); then say "WARNING: CPU only ${idle_now}% idle after ${wait_s}s; running anyway (the run will be flagged)"; return; fi
    say "CPU ${idle_now}% idle < ${min_idle}% (load $(load)); waiting (up to ${wait_s}s)"; sleep 10
  done
}
start=$SECONDS
wait_quiet
idle_start="$idle_now"; load_start="$(load)"; waited=$((SECONDS - start))
say "at start: CPU ${idle_start}% idle over 5 s, 1-min load $load_start (waited ${waited}s)"

tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
ncpu="$(nproc)"
contention=()
# part NAME OUTFILE CMD...: runs CMD > OUTFILE and measures how much CPU other processes used
# meanwhile, as a % of the machine. Above max_foreign the part is redone after waiting for quiet
# (BENCH_RETRIES times); the last measurement is kept and report.js flags the run if still high.
part() {
  local name="$1" outfile="$2"; shift 2
  local try t0 b0 o0 t1 b1 o1 foreign
  for (( try = 0; try <= retries; try++ )); do
    (( try == 0 )) || { say "$name: redoing (other processes used ${foreign}% of the CPUs)"; wait_quiet; }
    say "$name: $*"
    t0=$(date +%s.%N); b0=$(busy_ticks); o0=$(own_ticks)
    "$@" >"$outfile"
    t1=$(date +%s.%N); b1=$(busy_ticks); o1=$(own_ticks)
    foreign=$(awk -v b="$((b1 - b0))" -v o="$((o1 - o0))" -v t0="$t0" -v t1="$t1" -v n="$ncpu" -v hz="$(getconf CLK_TCK)" \
      'BEGIN { f = 100 * (b - o) / hz / ((t1 - t0) * n); printf "%.1f", (f < 0 ? 0 : f) }')
    say "$name: other processes used ${foreign}% of the CPUs meanwhile"
    awk -v f="$foreign" -v m="$max_foreign" 'BEGIN { exit !(f <= m) }' && break
  done
  contention+=("$name=$foreign")
}

bench=dist/bench/train-step/tfjs-bench.js
# The MLPs only: tfjs-backend-wasm 4.22 has no Conv2DBackpropFilter kernel, so the CNN cannot train there.
wasm_args=(--backend wasm --steps 5 --repeats 3 --warmup 2 --loop-examples 1280 --loop-repeats 3 --no-breakdown
  --model 784-800-800-10 --model 784-1200-1200-10)
part native "$tmp/native.json" node "$bench" --backend tensorflow
part wasm "$tmp/wasm.json" timeout 180 node "$bench" "${wasm_args[@]}"
part pytorch "$tmp/pytorch.json" "$py" bench/train-step/pytorch_bench.py
# For the SGEMM reference only: this machine's OPENBLAS_CORETYPE pins numpy's OpenBLAS to a
# narrower kernel than the CPU supports; this shows what the hardware does without it.
part sgemm_unset "$tmp/sgemm-unset.json" env -u OPENBLAS_CORETYPE "$py" bench/train-step/pytorch_bench.py --sgemm

out="${BENCH_OUT:-bench/train-step/results-$(date +%F).json}"
# The exact commands, recorded in the results JSON and quoted in docs/BENCHMARKS.md.
node dist/bench/train-step/report.js --native "$tmp/native.json" --wasm "$tmp/wasm.json" \
  --pytorch "$tmp/pytorch.json" --sgemm-unset "$tmp/sgemm-unset.json" --out "$out" \
  --load-start "$load_start" --idle-start "$idle_start" --waited-s "$waited" --contention "$(IFS=,; echo "${contention[*]}")" \
  --command "bash bench/train-step/run.sh" \
  --command "node $bench --backend tensorflow" \
  --command "node $bench ${wasm_args[*]}" \
  --command "py=\$(bash infra/setup/bench-python.sh | tail -n1); \$py bench/train-step/pytorch_bench.py" \
  --command "env -u OPENBLAS_CORETYPE \$py bench/train-step/pytorch_bench.py --sgemm"
