#!/bin/sh
# Record tests/data/pcap/real_lo.pcap (and a pcapng copy) from real
# traffic: dig asking a local unbound over UDP and TCP on loopback.
# Needs root (tcpdump, port 53), unbound, dig, tcpdump and editcap.
#
# The capture holds 12 DNS messages: over UDP, www.lab.test A and AAAA
# and nx.lab.test A (NXDOMAIN), each with its response; over TCP,
# txt.lab.test TXT on one connection, then www.lab.test A and AAAA on
# another (dig +keepopen), each with its response.
# tests/unit/test_netpkt.c relies on exactly that.
set -eu

ADDR=127.0.0.77
OUT=tests/data/pcap
WORK=$(mktemp -d)
trap 'kill "$UB_PID" "$TD_PID" 2>/dev/null || true; rm -rf "$WORK"' EXIT

cat > "$WORK/unbound.conf" <<EOF
server:
    interface: $ADDR
    port: 53
    do-daemonize: no
    use-syslog: no
    chroot: ""
    username: ""
    directory: "$WORK"
    pidfile: ""
    do-ip6: no
    access-control: 127.0.0.0/8 allow
    local-zone: "lab.test." static
    local-data: "www.lab.test. 300 IN A 192.0.2.80"
    local-data: "www.lab.test. 300 IN AAAA 2001:db8::80"
    local-data: "txt.lab.test. 300 IN TXT \"hello from the lab\""
remote-control:
    control-enable: no
EOF

unbound -d -c "$WORK/unbound.conf" 2>"$WORK/unbound.log" &
UB_PID=$!
tcpdump -i lo -n -U --time-stamp-precision=nano -w "$OUT/real_lo.pcap" \
    "host $ADDR" 2>"$WORK/tcpdump.log" &
TD_PID=$!
sleep 2

q="dig +tries=1 +time=2 @$ADDR"
$q +notcp www.lab.test A >/dev/null
$q +notcp www.lab.test AAAA >/dev/null
$q +notcp nx.lab.test A >/dev/null
$q +tcp txt.lab.test TXT >/dev/null
$q +tcp +keepopen www.lab.test A www.lab.test AAAA >/dev/null
sleep 1

kill "$TD_PID"
wait "$TD_PID" 2>/dev/null || true
kill "$UB_PID"
wait "$UB_PID" 2>/dev/null || true
editcap -F pcapng "$OUT/real_lo.pcap" "$OUT/real_lo.pcapng"
