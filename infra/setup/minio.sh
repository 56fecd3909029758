#!/usr/bin/env bash
# Installs the MinIO server. No registry ships a binary, so it is built from source with
# `go install` (the upstream-documented route). That takes many minutes on two cores, so the
# result is cached per machine under $CHRYSALIS_CACHE and copied into each clone's tools folder.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"; . "$here/lib.sh"
TOOLS="${1:?usage: minio.sh TOOLS_DIR}"
# MinIO's main branch carries no semver tags; this is the Go proxy's pseudo-version of a pinned commit.
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
mkdir -p "$TOOLS/bin"
target="$TOOLS/bin/minio"

if [ -n "${MINIO_BINARY:-}" ]; then
  [ -x "$MINIO_BINARY" ] || die "the MinIO server" "test -x $MINIO_BINARY" MINIO_BINARY "MINIO_BINARY=$MINIO_BINARY is not executable."
  ln -sfn "$MINIO_BINARY" "$target"; say "minio: using MINIO_BINARY=$MINIO_BINARY"; exit 0
fi
if [ -x "$target" ]; then say "minio: already installed"; exit 0; fi
onpath="$(PATH="$(echo "$PATH" | tr ':' '\n' | grep -vx "$TOOLS/bin" | paste -sd:)" command -v minio || true)"
if [ -n "$onpath" ]; then ln -sfn "$onpath" "$target"; say "minio: using $onpath from PATH"; exit 0; fi

cache="$CHRYSALIS_CACHE/minio/$MINIO_VERSION"
if [ ! -x "$cache/minio" ]; then
  command -v go >/dev/null || die "the MinIO server" "go version" MINIO_BINARY "Go is needed to build MinIO from source."
  loud "minio: building github.com/minio/minio@$MINIO_VERSION from source with go install"
  loud "minio: this compiles ~1500 packages and takes 5-15 minutes on two cores; it happens once per machine"
  mkdir -p "$cache"
  run_or_die "the MinIO server" MINIO_BINARY -- \
    env GOBIN="$cache" CGO_ENABLED=0 GOFLAGS=-trimpath go install "github.com/minio/minio@$MINIO_VERSION"
fi
ln -f "$cache/minio" "$target" 2>/dev/null || cp "$cache/minio" "$target"
say "minio: installed ($MINIO_VERSION)"
