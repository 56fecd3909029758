#!/usr/bin/env bash
# bench/train-step on an AVX-512 machine, as an AVX2-only machine would run it: the bare training step
# of both paper MLPs under five settings, round-robin, N rounds (median per setting):
#   tf-eigen      TF_ENABLE_ONEDNN_OPTS=0: TensorFlow's AVX-only Eigen kernels, what an AVX2 CPU
#                 without VNNI/AMX got by TensorFlow's default before chrysalis chose per machine
#   tf-onednn-avx2  TF_ENABLE_ONEDNN_OPTS=1 ONEDNN_MAX_CPU_ISA=AVX2: what chrysalis now chooses there
#   tf-default    this machine as it is (oneDNN at its own ISA)
#   torch-avx2    PyTorch held to AVX2 (ATEN_CPU_CAPABILITY=avx2, MKL_ENABLE_INSTRUCTIONS=AVX2,
#                 ONEDNN_MAX_CPU_ISA=AVX2)
#   torch-default PyTorch as it is
# It is a proxy: the kernels are held to AVX2, the core stays this one (its caches, clocks, ports). An
# AVX2 machine's own run of bench/train-step/run.sh is what decides the goal.
#   bash bench/train-step/isa-emulation.sh            # 3 rounds; ~6 min on a quiet 2-core machine
#   ROUNDS=5 OUT=bench/train-step/isa-emulation-<date>.json bash bench/train-step/isa-emulation.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
rounds="${ROUNDS:-3}"
out="${OUT:-bench/train-step/isa-emulation-$(date -u +%Y-%m-%d).json}"
py="$(bash infra/setup/bench-python.sh | tail -n1)"
[ -f dist/bench/train-step/tfjs-bench.js ] || npx tsc -p .
tmp="$(mktemp -d)"
tf_args=(--backend tensorflow --no-sgemm --loop-examples 0 --no-breakdown)
avx2=(ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2 ONEDNN_MAX_CPU_ISA=AVX2)
for r in $(seq 1 "$rounds"); do
  printf '[isa-emulation] round %s/%s (load %s)\n' "$r" "$rounds" "$(cut -d' ' -f1 /proc/loadavg)" >&2
  env TF_ENABLE_ONEDNN_OPTS=0 node dist/bench/train-step/tfjs-bench.js "${tf_args[@]}" >"$tmp/tf-eigen-$r.json"
  env TF_ENABLE_ONEDNN_OPTS=1 ONEDNN_MAX_CPU_ISA=AVX2 node dist/bench/train-step/tfjs-bench.js "${tf_args[@]}" \
    >"$tmp/tf-onednn-avx2-$r.json"
  node dist/bench/train-step/tfjs-bench.js "${tf_args[@]}" >"$tmp/tf-default-$r.json"
  env "${avx2[@]}" "$py" bench/train-step/pytorch_bench.py >"$tmp/torch-avx2-$r.json"
  "$py" bench/train-step/pytorch_bench.py >"$tmp/torch-default-$r.json"
done
python3 - "$tmp" "$out" "$rounds" <<'PY'
import json, statistics, sys, pathlib, platform, re
tmp, out, rounds = pathlib.Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
cpuinfo = pathlib.Path('/proc/cpuinfo').read_text()
flags = re.search(r'^flags\s*:\s*(.+)$', cpuinfo, re.M).group(1).split()
simd = sorted(f for f in set(flags) if re.match(r'^(avx2|avx512f|avx512_bf16|avx512_vnni|amx\w*|fma)$', f))
cpu = re.search(r'^model name\s*:\s*(.+)$', cpuinfo, re.M).group(1).strip()
settings = ['tf-eigen', 'tf-onednn-avx2', 'tf-default', 'torch-avx2', 'torch-default']
runs = {s: [json.loads((tmp / f'{s}-{r}.json').read_text()) for r in range(1, rounds + 1)] for s in settings}
models = [m['model'] for m in runs['tf-default'][0]['results']]
med = {s: {m: statistics.median(next(x['examples_per_s'] for x in run['results'] if x['model'] == m)
                                for run in runs[s]) for m in models} for s in settings}
json.dump({'cpu': cpu, 'simd': simd, 'rounds': rounds, 'median_examples_per_s': med, 'runs': runs},
          open(out, 'w'), indent=1)
print(f'{cpu}, {len(__import__("os").sched_getaffinity(0))} cores, {" ".join(simd)}; median of {rounds} rounds')
print('| setting | ' + ' | '.join(f'{m} ex/s | × torch-avx2' for m in models) + ' |')
print('|---|' + '--:|--:|' * len(models))
for s in settings:
    cells = ' | '.join(f'{med[s][m]:,.0f} | {med[s][m] / med["torch-avx2"][m]:.2f}×' for m in models)
    print(f'| {s} | {cells} |')
print(f'(JSON: {out})')
PY
rm -rf "$tmp"
# Committed results pass the lint.
npx prettier --write "$out" >/dev/null 2>&1 || true
