#!/bin/bash
# Build helm v3 for the deployment tests (`helm template`, `helm lint`).
#
# Usage: scripts/k8s/build-helm.sh
#
# helm comes from the helm.sh/helm/v3 Go module at HELM_VERSION, built in
# a throwaway module under the cache directory, beside the control
# plane's binaries.  Only the Go module proxy is used.  A second run finds
# the binary and returns at once.  Prints the bin directory last, on its
# own line.
#
# Exit status: 0 built or cached; 3 when something outside the project
# fails it (no Go, the module proxy unreachable or refusing); 1 when the
# build itself fails.
#
# Environment:
#   HELM_VERSION        helm release (default below; v3.16 is built on
#                       the client-go of Kubernetes 1.31, the test
#                       control plane's release)
#   UGALLU_K8S_CACHE    cache root (default
#                       ${XDG_CACHE_HOME:-$HOME/.cache}/ugallu-dns-detect)
set -euo pipefail

HELM_VERSION="${HELM_VERSION:-v3.16.4}"
CACHE_ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/ugallu-dns-detect"
CACHE_ROOT="${UGALLU_K8S_CACHE:-$CACHE_ROOT}"
TOP="$CACHE_ROOT/helm-$HELM_VERSION"
BIN="$TOP/bin"
SRC="$TOP/src"

say() { echo "build-helm: $*" >&2; }

if [ -x "$BIN/helm" ]; then
    say "$("$BIN/helm" version --short 2>&1)"
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

# Step 1: a module whose only purpose is to build the command.
cat >go.mod <<EOF
module ugallu.local/helm

go 1.22.0
EOF
cat >tools.go <<'EOF'
//go:build tools

package tools

import _ "helm.sh/helm/v3/cmd/helm"
EOF

# Step 2: require helm, let the go command fill in the rest.
log="$TOP/build.log"
say "fetching helm.sh/helm/v3@$HELM_VERSION from the module proxy"
if ! go get "helm.sh/helm/v3@$HELM_VERSION" >"$log" 2>&1; then
    tail -20 "$log" >&2
    say "go get failed; whole log in $log"
    exit 3
fi

# Step 3: build, stamping the versions as helm's own Makefile does:
# its own, and the Kubernetes release of the client-go it was built on
# (`helm template` checks a chart's kubeVersion against it).
cgo=$(go list -m -f '{{.Version}}' k8s.io/client-go)
kminor=$(echo "$cgo" | cut -d. -f2)
vflags="-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
vflags="$vflags -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
for p in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
    vflags="$vflags -X $p.k8sVersionMajor=1 -X $p.k8sVersionMinor=$kminor"
done
say "client-go $cgo: default Kubernetes version 1.$kminor"
say "building helm"
if ! go build -trimpath -ldflags="-s -w $vflags" \
    -o "$BIN/helm.tmp" helm.sh/helm/v3/cmd/helm >>"$log" 2>&1; then
    tail -30 "$log" >&2
    say "building helm failed; whole log in $log"
    exit 1
fi
mv "$BIN/helm.tmp" "$BIN/helm"

end=$(date +%s)
say "built in $((end - start)) s; size $(du -h "$BIN/helm" | cut -f1)"
say "$("$BIN/helm" version --short 2>&1)"
echo "$BIN"
