#!/usr/bin/env bash
# One compute worker per GPU on this host. Each worker sees exactly one GPU (CUDA_VISIBLE_DEVICES)
# and takes one activity at a time (CHRYSALIS_COMPUTE_SLOTS=1), so Temporal spreads teachers and
# students over the GPUs by itself. Every other setting (TEMPORAL_ADDRESS, MINIO_*, …) is inherited.
#
#   infra/multi-gpu.sh [--dry-run] [--worker FILE]
#     --dry-run      print the commands and exit (needs neither GPUs nor a build)
#     --worker FILE  the worker to start (default dist/workers/compute-worker.js; tests pass a stub)
#   CHRYSALIS_GPUS=0,1   use these GPUs instead of every one `nvidia-smi` lists
#
# Logs: $CHRYSALIS_DATA_DIR/logs/compute-gpu<i>.log (default data dir: <repo>/.data).
# SIGTERM/SIGINT go to every worker as SIGTERM, and the launcher waits while each finishes or
# checkpoints its activity (the worker's 2-minute shutdown grace). If a worker exits on its own, the
# others are stopped the same way and the launcher fails, so a supervisor (systemd
# Restart=on-failure, a k8s pod) restarts the set.
# Exit status: 0 if every worker stopped cleanly when asked, else the first failure's status.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

usage() { sed -n '6,9p' "$0" | sed 's/^# \{0,1\}//'; }
log() { printf '[multi-gpu] %s\n' "$*" >&2; }
die() { log "ERROR: $1"; exit "${2:-1}"; }

dry_run=0
worker="$root/dist/workers/compute-worker.js"
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) dry_run=1 ;;
    --worker) [ $# -ge 2 ] || die "--worker needs a file" 2; worker="$2"; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument '$1'" 2 ;;
  esac
  shift
done

# `wait -n -p` (bash 5.1) tells which worker exited.
if (( BASH_VERSINFO[0] < 5 || (BASH_VERSINFO[0] == 5 && BASH_VERSINFO[1] < 1) )); then
  die "bash >= 5.1 is needed (this is $BASH_VERSION)"
fi

if [ -n "${CHRYSALIS_GPUS:-}" ]; then
  gpu_list="$CHRYSALIS_GPUS"
else
  command -v nvidia-smi >/dev/null 2>&1 || die "nvidia-smi not found: install the NVIDIA driver, or list the GPUs in CHRYSALIS_GPUS=0,1"
  gpu_list="$(nvidia-smi --query-gpu=index --format=csv,noheader | paste -sd, -)" || die "nvidia-smi --query-gpu=index failed"
fi
IFS=',' read -r -a gpus <<<"${gpu_list//[[:space:]]/}"
[ "${#gpus[@]}" -gt 0 ] || die "no GPUs found (nvidia-smi lists none; CHRYSALIS_GPUS overrides)"
for g in "${gpus[@]}"; do
  [[ "$g" =~ ^[0-9]+$ ]] || die "GPU index '$g' in '$gpu_list' is not a number" 2
done

logs="${CHRYSALIS_DATA_DIR:-$root/.data}/logs"
# nvidia-smi numbers GPUs in PCI bus order; CUDA's default order is "fastest first". PCI_BUS_ID makes
# CUDA_VISIBLE_DEVICES=<i> the GPU that nvidia-smi calls <i>.
worker_env=(CUDA_DEVICE_ORDER=PCI_BUS_ID CHRYSALIS_DEVICE=gpu CHRYSALIS_COMPUTE_SLOTS=1)

if [ "$dry_run" = 1 ]; then
  for g in "${gpus[@]}"; do
    printf 'CUDA_VISIBLE_DEVICES=%s %s node %q >>%q 2>&1\n' "$g" "${worker_env[*]}" "$worker" "$logs/compute-gpu$g.log"
  done
  exit 0
fi

[ -f "$worker" ] || die "$worker does not exist: run \`npm run build\` first"
mkdir -p "$logs"
declare -A gpu_of=()   # worker pid -> GPU index
for g in "${gpus[@]}"; do
  env CUDA_VISIBLE_DEVICES="$g" "${worker_env[@]}" node "$worker" >>"$logs/compute-gpu$g.log" 2>&1 &
  gpu_of[$!]=$g
  log "GPU $g: compute worker pid $! (log $logs/compute-gpu$g.log)"
done

stopping=0
# Background jobs of a non-interactive shell ignore SIGINT, so the workers always get SIGTERM: the
# Temporal worker's shutdown signal either way.
stop() {
  [ "$stopping" = 0 ] || return 0
  stopping=1
  log "stopping ${#gpu_of[@]} worker(s) with SIGTERM; each gets up to 2 minutes to finish or checkpoint"
  kill -TERM "${!gpu_of[@]}" 2>/dev/null || true
}
trap stop TERM INT

rc=0
while [ "${#gpu_of[@]}" -gt 0 ]; do
  unset pid
  status=0
  wait -n -p pid "${!gpu_of[@]}" || status=$?
  [ -n "${pid:-}" ] || continue   # wait was interrupted by a signal; the trap has run
  g=${gpu_of[$pid]}
  unset "gpu_of[$pid]"
  # A worker killed by the SIGTERM we sent (before it installed its handler) stopped as asked.
  if [ "$status" = 143 ] && [ "$stopping" = 1 ]; then status=0; fi
  # One that exits unasked, even with 0, leaves its GPU idle: that is a failure of the set.
  if [ "$status" = 0 ] && [ "$stopping" = 0 ]; then status=1; fi
  if [ "$status" != 0 ]; then
    log "GPU $g: worker exited with status $status (see $logs/compute-gpu$g.log)"
    [ "$rc" != 0 ] || rc=$status
  else
    log "GPU $g: worker exited"
  fi
  [ "$stopping" = 1 ] || { log "GPU $g: the worker stopped unasked; stopping the others"; stop; }
done
exit "$rc"
