#!/bin/bash
# record_sample.sh - record the bundled sample capture in data/sample/.
#
# Writes, from one session of real traffic on loopback:
#   data/sample/sample.dnstap   Unbound's dnstap (client and resolver
#                               messages), as recorded by fstrm_capture
#   data/sample/sample.pcap     the same traffic on lo (port 53 and 5353)
#   data/sample/timeline.tsv    when each traffic phase ran, from where
#   data/sample/blocklist.txt   the blocklist the malicious phase hits
# data/sample/README.md describes the result.
#
# Run as root on a machine with no DNS server of its own on loopback:
#   sudo scripts/record_sample.sh
# It installs nothing.  It needs these Debian packages:
#   unbound bind9 dns2tcp dnsperf tcpdump fstrm-bin bind9-dnsutils
#   python3 iproute2
# and uses, when present, golang-github-dnstap-golang-dnstap-cli and
# tshark to print a summary, and webext-ublock-origin-firefox for real
# URLhaus blocklist entries (scripts/sample/urlhaus-hosts.txt keeps the
# ones picked, so a re-recording does not need it).
#
# Idempotent: every run starts from an empty work directory, stops every
# process it started (by PID) on any exit, and replaces the outputs only
# when the whole recording succeeded.  Set KEEP_WORK=1 to keep the work
# directory (configs, logs) for a look afterwards.
#
# Nothing leaves the machine: the resolver's root hints point at a fake
# root served by BIND on 127.0.0.1, which also serves every TLD zone the
# names need; the tunnel zone is delegated to dns2tcpd on 127.0.10.54.

set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
HELPER="$ROOT/scripts/sample/sample_setup.py"
OUT="$ROOT/data/sample"
PY=/usr/bin/python3

AUTH=127.0.0.1            # BIND: fake root and TLD zones
RESOLVER=127.0.10.53      # Unbound: the resolver every client uses
TUNNEL_NS=127.0.10.54     # dns2tcpd: tunnel.example-c2.test
ALT_PORT=5353             # Unbound's extra, non-standard listener
ECHO_PORT=28022           # the TCP service at the tunnel's far end
TUNNEL_PORT=28023         # dns2tcpc's local end of the tunnel
TUNNEL_BYTES=12288        # bytes sent through the tunnel (and echoed)
SETTLE=2                  # dnstap senders drop around connect and exit

WORK=$(mktemp -d /tmp/ugallu-sample.XXXXXX)
PIDS=()

log() { printf '%s record_sample: %s\n' "$(date -u +%T)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Stop every process this script started, newest first, by PID.
cleanup() {
    local i
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        kill "${PIDS[i]}" 2>/dev/null || true
    done
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        wait "${PIDS[i]}" 2>/dev/null || true
    done
    if [ "${KEEP_WORK:-0}" = 1 ]; then
        log "work directory kept: $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT

# start NAME CMD... : run CMD in the background, log to $WORK/NAME.log,
# remember its PID in PIDS and in the variable PID_<NAME>.
start() {
    local name=$1
    shift
    "$@" >"$WORK/$name.log" 2>&1 &
    PIDS+=($!)
    printf -v "PID_$name" '%s' "$!"
}

# stop NAME: SIGTERM (or the signal in $2) to its PID, wait for it.
stop() {
    local var="PID_$1" sig=${2:-TERM}
    kill "-$sig" "${!var}" 2>/dev/null || true
    wait "${!var}" 2>/dev/null || true
}

# wait_until SECONDS WHAT CMD...: poll CMD every 0.1 s.
wait_until() {
    local limit=$1 what=$2 i
    shift 2
    for ((i = 0; i < limit * 10; i++)); do
        if "$@" >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.1
    done
    die "timed out waiting for $what (logs in $WORK)"
}

# ss wants IPv6 addresses in brackets.
ss_addr() { case $1 in *:*) echo "[$1]" ;; *) echo "$1" ;; esac; }
udp_bound() { ss -Hlun "src $(ss_addr "$1") and sport = :$2" | grep -q .; }
port_busy() {
    ss -Hlnut "src $(ss_addr "$1") and sport = :$2" | grep -q .
}
sock_connected() { ss -xH state connected | grep -qF "$1"; }
answers() { dig +tries=1 +time=1 "@$1" -p "$2" . SOA >/dev/null; }

# ------------------------------------------------------------ preflight
# Root for port 53 and tcpdump; every program; the addresses free.
preflight() {
    local p a
    [ "$(id -u)" = 0 ] || die "run as root"
    for p in named unbound fstrm_capture tcpdump dig dnsperf dns2tcpd \
             dns2tcpc ss "$PY"; do
        command -v "$p" >/dev/null || die "$p not found (see header)"
    done
    for a in "$AUTH:53" "$RESOLVER:53" "$RESOLVER:$ALT_PORT" \
             "$TUNNEL_NS:53" "::1:53" "127.0.0.1:$ECHO_PORT" \
             "127.0.0.1:$TUNNEL_PORT"; do
        if port_busy "${a%:*}" "${a##*:}"; then
            die "$a is in use; stop whatever listens there"
        fi
    done
}

# ---------------------------------------------------------------- setup
# Name lists (picked once, kept in scripts/sample/), then zones, server
# configs and the query files of every phase, all in $WORK.
setup() {
    "$PY" "$HELPER" names
    "$PY" "$HELPER" configs "$WORK" "$ECHO_PORT"
    named-checkconf -z "$WORK/named.conf" >/dev/null ||
        die "zones do not load"
}

# Servers in dependency order: the authority first, then the recorders,
# then the resolver, whose dnstap connection must settle before any
# query is sent.
start_servers() {
    start auth named -g -c "$WORK/named.conf"
    wait_until 20 "named" answers "$AUTH" 53

    start fstrm fstrm_capture -t protobuf:dnstap.Dnstap \
        -u "$WORK/dnstap.sock" -w "$WORK/sample.dnstap"
    wait_until 10 "fstrm_capture" test -S "$WORK/dnstap.sock"

    # Immediate mode and a 32 MB buffer: without them the kernel drops
    # packets of the tunnel's bursts, and the last block at exit.
    start tcpdump tcpdump -i lo -n -U --immediate-mode -B 32768 -s 0 \
        -w "$WORK/sample.pcap" \
        "port 53 or port $ALT_PORT"
    wait_until 10 "tcpdump" grep -q "listening on" "$WORK/tcpdump.log"

    start resolver unbound -d -c "$WORK/unbound.conf"
    wait_until 20 "unbound" udp_bound "$RESOLVER" 53
    wait_until 20 "unbound's dnstap" sock_connected "$WORK/dnstap.sock"
    sleep "$SETTLE"

    start echo "$PY" "$ROOT/scripts/sample/echo_server.py" "$ECHO_PORT"
    start tunnel_server dns2tcpd -F -f "$WORK/dns2tcpd.conf"
    wait_until 10 "dns2tcpd" udp_bound "$TUNNEL_NS" 53
}

# --------------------------------------------------------------- phases
# phase NAME CLIENTS DESCRIPTION -- CMD...: run CMD and append a line to
# the timeline (UTC start and end, client addresses, description).
phase() {
    local name=$1 clients=$2 what=$3 t0 t1
    shift 4
    log "phase $name: $what"
    t0=$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)
    "$@"
    t1=$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)
    printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$t0" "$t1" "$clients" \
        "$what" >>"$WORK/timeline.tsv"
    sleep 0.5
}

# perf SOURCE FILE QPS [ARGS...]: one pass of dnsperf over FILE.
perf() {
    local src=$1 file=$2 qps=$3
    shift 3
    local server=$RESOLVER
    case $src in *:*) server=::1 ;; esac
    dnsperf -s "$server" -a "$src" -d "$WORK/$file" -n 1 -Q "$qps" \
        -t 3 "$@" >>"$WORK/dnsperf.log" 2>&1
}

# digs SOURCE FILE [DIG ARGS...]: one dig per line of FILE.
digs() {
    local src=$1 file=$2 name type
    shift 2
    while read -r name type; do
        dig +tries=1 +time=2 -b "$src" "@$RESOLVER" "$@" "$name" "$type" \
            >>"$WORK/dig.log" 2>&1 || true
    done <"$WORK/$file"
}

# tunnel: dns2tcpc carries a TCP session through the resolver; a client
# sends TUNNEL_BYTES of random data and reads the echo back.
tunnel() {
    start tunnel_client dns2tcpc -z tunnel.example-c2.test -k sample-key \
        -r echo -l "$TUNNEL_PORT" "$RESOLVER"
    wait_until 10 "dns2tcpc" port_busy 127.0.0.1 "$TUNNEL_PORT"
    "$PY" "$ROOT/scripts/sample/echo_server.py" --client "$TUNNEL_PORT" \
        "$TUNNEL_BYTES"
    stop tunnel_client
}

traffic() {
    : >"$WORK/timeline.tsv"
    phase benign 127.0.20.10 "Debian Homepage hosts, CDN edge names" -- \
        perf 127.0.20.10 benign.q 400 -c 4
    phase benign-tcp 127.0.20.15 "the same over TCP" -- \
        digs 127.0.20.15 alt-port.q +tcp
    phase k8s 127.0.20.11 "cluster.local services, ndots expansions" -- \
        perf 127.0.20.11 k8s.q 200
    phase ptr 127.0.20.12 "reverse lookups, some unnamed" -- \
        perf 127.0.20.12 ptr.q 200
    phase ipv6 ::1 "AAAA over IPv6" -- perf ::1 v6.q 200
    phase doh 127.0.20.13 "DoH canary and DoH resolver names" -- \
        digs 127.0.20.13 doh.q
    phase blocklist 127.0.20.66 "names on data/sample/blocklist.txt" -- \
        digs 127.0.20.66 blocked.q
    phase dga 127.0.20.67 "random .com/.net names, mostly NXDOMAIN" -- \
        perf 127.0.20.67 dga.q 100
    phase txt-burst 127.0.20.68 "200 TXT to unique names of one parent" -- \
        perf 127.0.20.68 txt.q 100
    phase tunnel 127.0.0.1 "dns2tcp session via the resolver" -- tunnel
    phase alt-port 127.0.20.14 "queries to port $ALT_PORT" -- \
        digs 127.0.20.14 alt-port.q -p "$ALT_PORT"
    phase benign-tail 127.0.20.10 "more ordinary lookups" -- \
        perf 127.0.20.10 benign-tail.q 200
}

# Stop the senders first (after the settle time, so nothing queued is
# lost), then the recorders; fstrm_capture writes the STOP frame when
# unbound goes.
stop_all() {
    sleep "$SETTLE"
    stop resolver
    wait_until 10 "fstrm_capture to see unbound go" \
        bash -c "! ss -xH state connected | grep -qF '$WORK/dnstap.sock'"
    sleep 0.5
    stop fstrm INT
    stop tcpdump INT
    stop tunnel_server
    stop echo
    stop auth
}

publish() {
    local f
    for f in sample.dnstap sample.pcap; do
        [ -s "$WORK/$f" ] || die "$f is empty"
    done
    grep -q "^0 packets dropped by kernel" "$WORK/tcpdump.log" ||
        die "tcpdump lost packets: $(grep dropped "$WORK/tcpdump.log")"
    mkdir -p "$OUT"
    for f in sample.dnstap sample.pcap timeline.tsv; do
        cp "$WORK/$f" "$OUT/$f.tmp"
        mv "$OUT/$f.tmp" "$OUT/$f"
    done
}

summary() {
    ls -l "$OUT/sample.dnstap" "$OUT/sample.pcap" >&2
    if command -v dnstap >/dev/null; then
        log "dnstap messages by type:"
        dnstap -r "$OUT/sample.dnstap" -q 2>/dev/null |
            awk '{print $2}' | sort | uniq -c >&2
    fi
    if command -v tshark >/dev/null; then
        log "pcap DNS messages: $(tshark -r "$OUT/sample.pcap" -n \
            -d udp.port==$ALT_PORT,dns -Y dns 2>/dev/null | wc -l)"
    fi
}

main() {
    preflight
    setup
    start_servers
    traffic
    stop_all
    publish
    summary
    log "done"
}

main "$@"
