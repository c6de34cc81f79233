#!/usr/bin/env bash
# Builds Istio's own injector for `make conformance` from the Go module proxy, with istio.io/istio
# pinned in test/istio-oracle/go.mod+go.sum: istio-oracle (pkg/kube/inject behind a loopback HTTP
# server: the webhook and kube-inject) and istioctl, from the same module and build cache.
#
#   scripts/build-istio-oracle.sh            build into the cache (no-op when already built); prints the bin dir last
#   scripts/build-istio-oracle.sh --print    print the bin dir if the binaries are there, else exit 1
#   scripts/build-istio-oracle.sh --module   print the istio.io/istio module directory (charts, samples, goldens)
#
# Cache: ${XDG_CACHE_HOME:-~/.cache}/sidecar-injector/istio-<version>/bin, stamped with the hash of
# go.mod, go.sum and main.go. Istio's files are read from the Go module cache, never copied.
set -euo pipefail

MOD_DIR=$(cd "$(dirname "$0")/../test/istio-oracle" && pwd)
command -v go >/dev/null || export PATH="$PATH:/usr/local/go/bin"
export GOTOOLCHAIN=local CGO_ENABLED=0   # never fetch another toolchain; static binaries
export GOFLAGS=-mod=readonly

VERSION=$(awk '$1=="istio.io/istio" {print $2; exit}' "$MOD_DIR/go.mod")
OUT=${XDG_CACHE_HOME:-$HOME/.cache}/sidecar-injector/istio-$VERSION/bin
STAMP=$(cat "$MOD_DIR/go.mod" "$MOD_DIR/go.sum" "$MOD_DIR/main.go" | sha256sum | cut -c1-16)

if [ "${1:-}" = --module ]; then
  command -v go >/dev/null || { echo "go is needed to locate istio.io/istio in the module cache" >&2; exit 1; }
  dir=$(cd "$MOD_DIR" && go mod download -json istio.io/istio | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -d "$dir" ] || { echo "istio.io/istio $VERSION could not be downloaded" >&2; exit 1; }
  echo "$dir"; exit 0
fi
if [ -x "$OUT/istio-oracle" ] && [ -x "$OUT/istioctl" ] && [ "$(cat "$OUT/.stamp-oracle" 2>/dev/null)" = "$STAMP" ]; then
  echo "$OUT"; exit 0
fi
if [ "${1:-}" = --print ]; then echo "Istio's injector not built yet: run scripts/build-istio-oracle.sh" >&2; exit 1; fi

command -v go >/dev/null || { echo "go (>= 1.26, as istio.io/istio $VERSION requires) is needed to build Istio's injector" >&2; exit 1; }
echo "building istio-oracle and istioctl (istio.io/istio $VERSION) into $OUT (first time: ~12 min on 2 busy cores, ~2.5 GB)" >&2
mkdir -p "$OUT"; rm -f "$OUT/.stamp-oracle"
cd "$MOD_DIR"
# -p 2 caps the parallel compile jobs on the 2-core machines; one invocation so both binaries share
# every compiled package.
go build -p 2 -trimpath -buildvcs=false -ldflags "-s -w" -o "$OUT/" . istio.io/istio/istioctl/cmd/istioctl >&2
"$OUT/istioctl" version --remote=false 2>/dev/null | sed -n 1p >&2 || true
echo "$STAMP" > "$OUT/.stamp-oracle"
echo "$OUT"
