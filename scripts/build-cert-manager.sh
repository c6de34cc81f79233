#!/usr/bin/env bash
# Builds cert-manager's controllers and CA injector for the chart's cert-manager mode test
# (make helm-test), from the Go module proxy, with cert-manager pinned in test/cert-manager/go.mod+go.sum.
# Same pattern as scripts/build-control-plane.sh: built once, cached outside the repo in
# ${XDG_CACHE_HOME:-~/.cache}/sidecar-injector/cert-manager-<version>/bin, stamped with the hash of the
# module's go.mod, go.sum and mains. The CRDs are not copied anywhere: the test reads them from the
# module's deploy/crds in the Go module cache (`--crds` prints that directory).
#
#   scripts/build-cert-manager.sh          build into the cache (no-op when built); prints the bin dir last
#   scripts/build-cert-manager.sh --print  print the bin dir if built, else exit 1
#   scripts/build-cert-manager.sh --crds   download the module if needed and print its deploy/crds directory
set -euo pipefail

MOD_DIR=$(cd "$(dirname "$0")/../test/cert-manager" && pwd)
export GOTOOLCHAIN=local CGO_ENABLED=0   # never fetch another toolchain; static binaries
export GOFLAGS=-mod=readonly

VERSION=$(awk '$1=="github.com/cert-manager/cert-manager" {print $2; exit}' "$MOD_DIR/go.mod")

if [ "${1:-}" = --crds ]; then
  command -v go >/dev/null || { echo "go is needed to fetch cert-manager's CRDs from the Go module proxy" >&2; exit 1; }
  dir=$(cd "$MOD_DIR" && go mod download -json "github.com/cert-manager/cert-manager@$VERSION" \
    | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -d "$dir/deploy/crds" ] || { echo "no deploy/crds in $dir" >&2; exit 1; }
  echo "$dir/deploy/crds"; exit 0
fi

OUT=${XDG_CACHE_HOME:-$HOME/.cache}/sidecar-injector/cert-manager-$VERSION/bin
STAMP=$(cat "$MOD_DIR/go.mod" "$MOD_DIR/go.sum" "$MOD_DIR"/*/main.go | sha256sum | cut -c1-16)

if [ -f "$OUT/.stamp" ] && [ "$(cat "$OUT/.stamp")" = "$STAMP" ]; then echo "$OUT"; exit 0; fi
if [ "${1:-}" = --print ]; then echo "cert-manager not built yet: run scripts/build-cert-manager.sh" >&2; exit 1; fi

command -v go >/dev/null || { echo "go is needed to build cert-manager $VERSION (toolchain named in test/cert-manager/go.mod)" >&2; exit 1; }
echo "building cert-manager $VERSION controller and cainjector into $OUT (first time: 2-16 min on 2 cores, by load and Go build cache)" >&2
mkdir -p "$OUT"; rm -f "$OUT/.stamp"
cd "$MOD_DIR"
# -p 2 caps the parallel compile jobs on the 2-core machines; -buildvcs=false because the module sits in a git checkout.
go build -p 2 -trimpath -buildvcs=false -ldflags "-s -w" -o "$OUT/cert-manager-controller" ./controller >&2
go build -p 2 -trimpath -buildvcs=false -ldflags "-s -w" -o "$OUT/cert-manager-cainjector" ./cainjector >&2
echo "$STAMP" > "$OUT/.stamp"
echo "$OUT"
