#!/bin/bash
# Build CoreDNS with the ugallu plugin, and the test subscriber.
#
# Usage: scripts/coredns/build.sh
#
# Builds coredns-ugallu/cmd/coredns (CoreDNS at the release pinned in
# coredns-ugallu/go.mod, a small plugin set, and ugallu) and
# coredns-ugallu/cmd/subscriber into
#   $CACHE_ROOT/coredns-<coredns version>-<source hash>/
# The hash covers go.mod, go.sum and every non-test .go file, so a
# change to the plugin builds anew and an unchanged tree returns at once.
# Only the Go module proxy is used; go.sum pins every module.  Prints the
# directory last, on its own line.
#
# Exit status: 0 built or cached; 3 when something outside the project
# fails it (no Go, the module proxy unreachable); 1 when the build fails.
#
# Environment:
#   UGALLU_COREDNS_CACHE  cache root (default
#                         ${XDG_CACHE_HOME:-$HOME/.cache}/ugallu-dns-detect)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
MOD="$ROOT/coredns-ugallu"
CACHE_ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/ugallu-dns-detect"
CACHE_ROOT="${UGALLU_COREDNS_CACHE:-$CACHE_ROOT}"

say() { echo "coredns-build: $*" >&2; }

PATH="$PATH:/usr/local/go/bin"
command -v go >/dev/null || { say "go is not installed"; exit 3; }

version=$(sed -n 's#^[[:space:]]*github.com/coredns/coredns \(v[^ ]*\).*#\1#p' \
    "$MOD/go.mod" | head -1)
[ -n "$version" ] || { say "no coredns version in $MOD/go.mod"; exit 1; }
hash=$(cd "$MOD" && find . \( -name '*.go' ! -name '*_test.go' \) \
    -o -name go.mod -o -name go.sum | LC_ALL=C sort | xargs sha256sum |
    sha256sum | cut -c1-12)
OUT="$CACHE_ROOT/coredns-$version-$hash"

if [ -x "$OUT/coredns" ] && [ -x "$OUT/subscriber" ]; then
    say "cached: $("$OUT/coredns" -version | head -1) in $OUT"
    echo "$OUT"
    exit 0
fi

export GOFLAGS=-mod=readonly CGO_ENABLED=0 GOTOOLCHAIN=local GOWORK=off
mkdir -p "$OUT"
log="$OUT/build.log"
start=$(date +%s)
say "downloading modules (CoreDNS $version) from the module proxy"
if ! (cd "$MOD" && go mod download) >"$log" 2>&1; then
    tail -20 "$log" >&2
    say "module download failed; whole log in $log"
    exit 3
fi
for cmd in coredns subscriber; do
    say "building $cmd"
    if ! (cd "$MOD" && go build -trimpath -ldflags="-s -w" \
        -o "$OUT/$cmd.tmp" "./cmd/$cmd") >>"$log" 2>&1; then
        tail -30 "$log" >&2
        say "building $cmd failed; whole log in $log"
        exit 1
    fi
    mv "$OUT/$cmd.tmp" "$OUT/$cmd"
done
say "built in $(( $(date +%s) - start )) s: $("$OUT/coredns" -version |
    head -1)"
echo "$OUT"
