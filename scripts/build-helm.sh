#!/usr/bin/env bash
# Builds the `helm` binary the chart tests run (make helm-test), from the Go module proxy, with the
# module pinned in test/helm/go.mod+go.sum. Same pattern as scripts/build-control-plane.sh: built once,
# cached outside the repo in ${XDG_CACHE_HOME:-~/.cache}/sidecar-injector/helm-v<version>/bin,
# stamped with the hash of go.mod+go.sum so a version bump rebuilds.
#
#   scripts/build-helm.sh            build into the cache (no-op when already built); prints the bin dir last
#   scripts/build-helm.sh --print    print the bin dir if helm is there, else exit 1
#
# HELM_BIN=<path to a helm v4 executable> skips the build.
set -euo pipefail

MOD_DIR=$(cd "$(dirname "$0")/../test/helm" && pwd)
export GOTOOLCHAIN=local CGO_ENABLED=0   # never fetch another toolchain; a static binary
export GOFLAGS=-mod=readonly

if [ -n "${HELM_BIN:-}" ]; then
  [ -x "$HELM_BIN" ] || { echo "HELM_BIN=$HELM_BIN is not executable" >&2; exit 1; }
  dirname "$HELM_BIN"; exit 0
fi

VERSION=$(awk '$1=="helm.sh/helm/v4" {print $2; exit}' "$MOD_DIR/go.mod")
OUT=${XDG_CACHE_HOME:-$HOME/.cache}/sidecar-injector/helm-$VERSION/bin
STAMP=$(cat "$MOD_DIR/go.mod" "$MOD_DIR/go.sum" | sha256sum | cut -c1-16)

if [ -f "$OUT/.stamp" ] && [ "$(cat "$OUT/.stamp")" = "$STAMP" ]; then echo "$OUT"; exit 0; fi
if [ "${1:-}" = --print ]; then echo "helm not built yet: run scripts/build-helm.sh" >&2; exit 1; fi

command -v go >/dev/null || { echo "go is needed to build helm ($VERSION needs the toolchain test/helm/go.mod names); or set HELM_BIN" >&2; exit 1; }
echo "building helm $VERSION into $OUT (first time: 2-13 min on 2 cores, by load and Go build cache)" >&2
mkdir -p "$OUT"; rm -f "$OUT/.stamp"
cd "$MOD_DIR"
# helm's own Makefile stamps the version this way (internal/version); otherwise `helm version` says v4.x-dev.
LD="-s -w -X helm.sh/helm/v4/internal/version.version=$VERSION -X helm.sh/helm/v4/internal/version.gitTreeState=clean"
# -p 2 caps the parallel compile jobs on the 2-core machines; -buildvcs=false because the module sits in a git checkout.
go build -p 2 -trimpath -buildvcs=false -ldflags "$LD" -o "$OUT/helm" helm.sh/helm/v4/cmd/helm >&2
"$OUT/helm" version --short >&2
echo "$STAMP" > "$OUT/.stamp"
echo "$OUT"
