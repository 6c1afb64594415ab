#!/bin/bash
# Start a test control plane on loopback: etcd and kube-apiserver.
#
# Usage: scripts/k8s/start-control-plane.sh DIR
#
# DIR holds everything: pki/ (a CA made here with openssl, the serving
# certificate, an admin client certificate in group system:masters, the
# service-account key pair), etcd/ (data), the logs, DIR/pids (one
# "name pid" line per process, for stop-control-plane.sh) and
# DIR/admin.kubeconfig, whose path is printed last once /readyz answers.
# RBAC is on and TokenRequest works (kubectl create token).  Nothing else
# runs: no controller-manager, scheduler or kubelet.
#
# Ports are free ones picked at start.  kube-apiserver and kubectl come
# from build-control-plane.sh (built on first use), etcd from Debian's
# etcd-server.  Exit 0 when ready; 1 when a process fails to come up, with
# the tail of its log on stderr (what did start is stopped again).
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
[ $# -eq 1 ] || { echo "usage: $0 DIR" >&2; exit 2; }
mkdir -p "$1"
DIR="$(cd "$1" && pwd)"
PKI="$DIR/pki"
READY_TIMEOUT="${READY_TIMEOUT:-60}"

say() { echo "start-control-plane: $*" >&2; }

fail() {
    say "$1"
    [ -f "$2" ] && tail -20 "$2" >&2
    "$HERE/stop-control-plane.sh" "$DIR" >/dev/null 2>&1 || true
    exit 1
}

# Three free loopback ports, from the kernel.
free_ports() {
    python3 -c '
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))'
}

# name, subject, extensions file (or ""): key + certificate signed by the CA.
make_cert() {
    local name="$1" subj="$2" ext="$3"
    openssl req -new -newkey rsa:2048 -nodes -keyout "$PKI/$name.key" \
        -subj "$subj" -out "$PKI/$name.csr" 2>/dev/null
    openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" \
        -CAkey "$PKI/ca.key" -CAcreateserial -days 30 -sha256 \
        -extfile "$ext" -out "$PKI/$name.crt" 2>/dev/null
}

make_pki() {
    mkdir -p "$PKI"
    openssl req -x509 -new -newkey rsa:2048 -nodes -days 30 -sha256 \
        -subj "/CN=ugallu-test-ca" -keyout "$PKI/ca.key" \
        -out "$PKI/ca.crt" 2>/dev/null
    cat >"$PKI/server.ext" <<'EOF'
basicConstraints = CA:FALSE
keyUsage = digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, IP:10.0.0.1, DNS:localhost, DNS:kubernetes, \
    DNS:kubernetes.default.svc
EOF
    cat >"$PKI/client.ext" <<'EOF'
basicConstraints = CA:FALSE
keyUsage = digitalSignature, keyEncipherment
extendedKeyUsage = clientAuth
EOF
    make_cert server "/CN=kube-apiserver" "$PKI/server.ext"
    make_cert admin "/O=system:masters/CN=ugallu-test-admin" \
        "$PKI/client.ext"
    openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
    openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
}

write_kubeconfig() {
    cat >"$DIR/admin.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: https://127.0.0.1:$API_PORT
    certificate-authority: $PKI/ca.crt
users:
- name: admin
  user:
    client-certificate: $PKI/admin.crt
    client-key: $PKI/admin.key
contexts:
- name: test
  context: { cluster: test, user: admin }
current-context: test
EOF
}

start_etcd() {
    setsid etcd --name test --data-dir "$DIR/etcd" \
        --listen-client-urls "http://127.0.0.1:$ETCD_PORT" \
        --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
        --listen-peer-urls "http://127.0.0.1:$PEER_PORT" \
        --initial-advertise-peer-urls "http://127.0.0.1:$PEER_PORT" \
        --initial-cluster "test=http://127.0.0.1:$PEER_PORT" \
        --logger zap --log-level warn \
        </dev/null >"$DIR/etcd.log" 2>&1 &
    echo "etcd $!" >>"$DIR/pids"
}

start_apiserver() {
    setsid "$BIN/kube-apiserver" \
        --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
        --bind-address 127.0.0.1 --advertise-address 127.0.0.1 \
        --secure-port "$API_PORT" --cert-dir "$PKI" \
        --tls-cert-file "$PKI/server.crt" \
        --tls-private-key-file "$PKI/server.key" \
        --client-ca-file "$PKI/ca.crt" \
        --authorization-mode RBAC \
        --service-account-issuer https://kubernetes.default.svc \
        --service-account-key-file "$PKI/sa.pub" \
        --service-account-signing-key-file "$PKI/sa.key" \
        --service-cluster-ip-range 10.0.0.0/24 \
        --profiling=false \
        </dev/null >"$DIR/kube-apiserver.log" 2>&1 &
    echo "kube-apiserver $!" >>"$DIR/pids"
}

# Poll /readyz as the admin; the RBAC bootstrap roles are part of it.
wait_ready() {
    local deadline=$((SECONDS + READY_TIMEOUT)) pid
    while [ $SECONDS -lt $deadline ]; do
        if "$BIN/kubectl" --kubeconfig "$DIR/admin.kubeconfig" \
            get --raw /readyz >/dev/null 2>&1; then
            return 0
        fi
        for pid in $(cut -d' ' -f2 "$DIR/pids"); do
            kill -0 "$pid" 2>/dev/null || return 1
        done
        sleep 0.5
    done
    return 1
}

command -v etcd >/dev/null ||
    { say "etcd not installed (Debian package etcd-server)"; exit 1; }
command -v openssl >/dev/null || { say "openssl not installed"; exit 1; }
BIN="$("$HERE/build-control-plane.sh" | tail -1)"
[ -f "$DIR/pids" ] && { say "$DIR/pids exists: already running?"; exit 1; }

t0=$SECONDS
make_pki
read -r ETCD_PORT PEER_PORT API_PORT < <(free_ports)
write_kubeconfig
: >"$DIR/pids"
start_etcd
start_apiserver
wait_ready || fail "not ready after ${READY_TIMEOUT}s" "$DIR/kube-apiserver.log"
say "ready in $((SECONDS - t0)) s: https://127.0.0.1:$API_PORT," \
    "etcd 127.0.0.1:$ETCD_PORT"
echo "$DIR/admin.kubeconfig"
