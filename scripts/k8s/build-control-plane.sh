#!/bin/bash
# Build kube-apiserver and kubectl for the test control plane.
#
# Usage: scripts/k8s/build-control-plane.sh
#
# Both come from the k8s.io/kubernetes Go module at K8S_VERSION, built in
# a throwaway module under the cache directory.  k8s.io/kubernetes
# replaces its k8s.io/* staging modules with local paths, which a
# consumer cannot follow, so the throwaway module pins each of them to
# the matching v0.x release; the list comes from kubernetes' own go.mod.
# Only the Go module proxy is used.  A second run finds the binaries and
# returns at once.  Prints the bin directory last, on its own line.
#
# Exit status: 0 built or cached; 3 when something outside the project
# fails it (no Go, the module proxy unreachable or refusing); 1 when the
# build itself fails.
#
# Environment:
#   K8S_VERSION         kubernetes release (default below)
#   UGALLU_K8S_CACHE    cache root (default
#                       ${XDG_CACHE_HOME:-$HOME/.cache}/ugallu-dns-detect)
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-v1.31.14}"
STAGING_VERSION="v0.${K8S_VERSION#v1.}"
CACHE_ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/ugallu-dns-detect"
CACHE_ROOT="${UGALLU_K8S_CACHE:-$CACHE_ROOT}"
TOP="$CACHE_ROOT/k8s-$K8S_VERSION"
BIN="$TOP/bin"
SRC="$TOP/src"

say() { echo "build-control-plane: $*" >&2; }

report_versions() {
    say "kube-apiserver: $("$BIN/kube-apiserver" --version 2>&1)"
    say "kubectl: $("$BIN/kubectl" version --client 2>&1 | head -1)"
}

if [ -x "$BIN/kube-apiserver" ] && [ -x "$BIN/kubectl" ]; then
    report_versions
    echo "$BIN"
    exit 0
fi

PATH="$PATH:/usr/local/go/bin"
command -v go >/dev/null || { say "go is not installed"; exit 3; }
start=$(date +%s)
rm -rf "$SRC"
mkdir -p "$SRC" "$BIN"
cd "$SRC"

export GOFLAGS=-mod=mod CGO_ENABLED=0 GOTOOLCHAIN=local GOWORK=off

# Step 1: a module whose only purpose is to build the two commands.
cat >go.mod <<EOF
module ugallu.local/k8s-control-plane

go 1.22.0
EOF

# Step 2: kubernetes' go.mod names the staging modules it replaces.
say "fetching k8s.io/kubernetes@$K8S_VERSION from the module proxy"
info=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION") ||
    { say "module proxy: cannot download k8s.io/kubernetes"; exit 3; }
gomod=$(echo "$info" |
    sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')
[ -f "$gomod" ] ||
    { say "no go.mod for k8s.io/kubernetes@$K8S_VERSION"; exit 3; }
staging=$(sed -n \
    's#^[[:space:]]*\(k8s\.io/[^[:space:]]*\) => \./staging/.*#\1#p' "$gomod")
[ -n "$staging" ] || { say "no staging replaces in $gomod"; exit 3; }
{
    echo
    echo "replace ("
    for m in $staging; do
        echo "    $m => $m $STAGING_VERSION"
    done
    echo ")"
} >>go.mod
say "pinned $(echo "$staging" | wc -l) staging modules to $STAGING_VERSION"

# Step 3: require kubernetes, let the go command fill in the rest.
cat >tools.go <<'EOF'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
EOF
log="$TOP/build.log"
if ! go get "k8s.io/kubernetes@$K8S_VERSION" >"$log" 2>&1; then
    tail -20 "$log" >&2
    say "go get failed; whole log in $log"
    exit 3
fi

# Step 4: build.  Version stamps as kubernetes' own build sets them.
ldx="k8s.io/component-base/version"
ldx2="k8s.io/client-go/pkg/version"
vflags=""
for p in $ldx $ldx2; do
    vflags="$vflags -X $p.gitVersion=$K8S_VERSION"
    vflags="$vflags -X $p.gitMajor=1"
    vflags="$vflags -X $p.gitMinor=$(echo "$K8S_VERSION" | cut -d. -f2)"
    vflags="$vflags -X $p.gitTreeState=clean"
done
for cmd in kube-apiserver kubectl; do
    say "building $cmd (takes minutes on two cores)"
    if ! go build -trimpath -ldflags="-s -w $vflags" \
        -o "$BIN/$cmd.tmp" "k8s.io/kubernetes/cmd/$cmd" >>"$log" 2>&1; then
        tail -30 "$log" >&2
        say "building $cmd failed; whole log in $log"
        exit 1
    fi
    mv "$BIN/$cmd.tmp" "$BIN/$cmd"
done

end=$(date +%s)
say "built in $((end - start)) s; sizes: $(du -h "$BIN/kube-apiserver" |
    cut -f1) kube-apiserver, $(du -h "$BIN/kubectl" | cut -f1) kubectl"
report_versions
echo "$BIN"
