#!/bin/bash
# Regenerate the Go code of proto/ugallu_dns_stream.proto into
# coredns-ugallu/dnsstreampb.  The output is committed, so neither a build
# nor a test needs protoc; run this only after changing the .proto.
#
# Usage: scripts/coredns/gen-proto.sh
#
# Needs protoc (Debian protobuf-compiler) and Go; the two Go generators are
# installed at the pinned versions below into a cache directory through
# the Go module proxy.  Also checks that protoc-c (the daemon's generator)
# accepts the file.
set -euo pipefail

PROTOC_GEN_GO_VERSION=v1.35.1
PROTOC_GEN_GO_GRPC_VERSION=v1.5.1
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/ugallu-dns-detect/protoc-gen"
BIN="$CACHE/go-$PROTOC_GEN_GO_VERSION-grpc-$PROTOC_GEN_GO_GRPC_VERSION"
MODULE=github.com/ugallu/dns-detect/coredns-ugallu

say() { echo "gen-proto: $*" >&2; }

command -v protoc >/dev/null || { say "protoc missing"; exit 3; }
if [ ! -x "$BIN/protoc-gen-go" ] || [ ! -x "$BIN/protoc-gen-go-grpc" ]; then
    mkdir -p "$BIN"
    GOBIN="$BIN" GOFLAGS= go install \
        "google.golang.org/protobuf/cmd/protoc-gen-go@$PROTOC_GEN_GO_VERSION"
    grpc_gen=google.golang.org/grpc/cmd/protoc-gen-go-grpc
    GOBIN="$BIN" GOFLAGS= go install \
        "$grpc_gen@$PROTOC_GEN_GO_GRPC_VERSION"
fi

PATH="$BIN:$PATH" protoc -I "$ROOT/proto" \
    --go_out="$ROOT/coredns-ugallu" --go_opt=module="$MODULE" \
    --go-grpc_out="$ROOT/coredns-ugallu" --go-grpc_opt=module="$MODULE" \
    "$ROOT/proto/ugallu_dns_stream.proto"
say "wrote $ROOT/coredns-ugallu/dnsstreampb ($(protoc --version)," \
    "protoc-gen-go $PROTOC_GEN_GO_VERSION," \
    "protoc-gen-go-grpc $PROTOC_GEN_GO_GRPC_VERSION)"

if command -v protoc-c >/dev/null; then
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    protoc-c -I "$ROOT/proto" --c_out="$tmp" \
        "$ROOT/proto/ugallu_dns_stream.proto"
    say "protoc-c accepts the file"
fi
