#!/usr/bin/env bash
# Builds Istio's injection webhook (bench/istio-webhook: inject.Webhook served over TLS) for
# `make bench`, from the Go module proxy, with istio.io/istio pinned in bench/istio-webhook/go.mod+go.sum.
#
#   scripts/build-istio-webhook.sh            build into the cache (no-op when built); prints the binary last
#   scripts/build-istio-webhook.sh --print    print the binary if it is built, else exit 1
#   scripts/build-istio-webhook.sh --chart    print the istio-discovery chart directory in the module cache
#
# Cache: ${XDG_CACHE_HOME:-~/.cache}/sidecar-injector/istio-<version>/bin/istio-webhook, stamped with
# the hash of go.mod, go.sum and main.go. The chart files are read from the Go module cache, never copied.
set -euo pipefail

MOD_DIR=$(cd "$(dirname "$0")/../bench/istio-webhook" && pwd)
export GOTOOLCHAIN=local CGO_ENABLED=0
export GOFLAGS=-mod=readonly
export PATH=$PATH:/usr/local/go/bin

VERSION=$(awk '$1=="istio.io/istio" {print $2; exit}' "$MOD_DIR/go.mod")
OUT=${XDG_CACHE_HOME:-$HOME/.cache}/sidecar-injector/istio-$VERSION/bin
BIN=$OUT/istio-webhook
STAMP=$(cat "$MOD_DIR/go.mod" "$MOD_DIR/go.sum" "$MOD_DIR/main.go" | sha256sum | cut -c1-16)

if [ "${1:-}" = --chart ]; then
  command -v go >/dev/null || { echo "go is not installed" >&2; exit 1; }
  dir=$(cd "$MOD_DIR" && go list -m -f '{{.Dir}}' istio.io/istio)
  [ -n "$dir" ] || { echo "istio.io/istio $VERSION is not in the Go module cache: run scripts/build-istio-webhook.sh" >&2; exit 1; }
  echo "$dir/manifests/charts/istio-control/istio-discovery"; exit 0
fi
if [ -x "$BIN" ] && [ -f "$OUT/.stamp-webhook" ] && [ "$(cat "$OUT/.stamp-webhook")" = "$STAMP" ]; then echo "$BIN"; exit 0; fi
if [ "${1:-}" = --print ]; then echo "istio-webhook not built yet: run scripts/build-istio-webhook.sh" >&2; exit 1; fi

command -v go >/dev/null || { echo "go (>= 1.26, as istio.io/istio $VERSION requires) is needed to build Istio's webhook" >&2; exit 1; }
echo "building Istio's injection webhook (istio.io/istio $VERSION) into $OUT (first time: several minutes on 2 cores)" >&2
mkdir -p "$OUT"; rm -f "$OUT/.stamp-webhook"
cd "$MOD_DIR"
# -p 2 caps the parallel compile jobs on the 2-core machines.
go build -p 2 -trimpath -buildvcs=false -ldflags "-s -w" -o "$BIN" . >&2
echo "$STAMP" > "$OUT/.stamp-webhook"
echo "$BIN"
