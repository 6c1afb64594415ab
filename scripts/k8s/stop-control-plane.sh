#!/bin/bash
# Stop a control plane started by start-control-plane.sh DIR.
#
# Usage: scripts/k8s/stop-control-plane.sh DIR
#
# Stops each process named in DIR/pids by its PID, newest first (the API
# server before etcd): SIGTERM, then SIGKILL after 10 s.  Removes
# DIR/pids; the rest of DIR (logs, etcd data, certificates) stays.
set -uo pipefail

[ $# -eq 1 ] || { echo "usage: $0 DIR" >&2; exit 2; }
PIDS="$1/pids"
[ -f "$PIDS" ] || exit 0

# A PID is ours only while its command line still names the program.
ours() {
    tr '\0' ' ' <"/proc/$2/cmdline" 2>/dev/null | grep -q -- "$1"
}

stop_one() {
    local name="$1" pid="$2" i
    ours "$name" "$pid" || return 0
    kill -TERM "$pid" 2>/dev/null
    for i in $(seq 100); do
        ours "$name" "$pid" || return 0
        sleep 0.1
    done
    echo "stop-control-plane: $name ($pid) ignored SIGTERM" >&2
    kill -KILL "$pid" 2>/dev/null
}

tac "$PIDS" | while read -r name pid; do
    stop_one "$name" "$pid"
done
rm -f "$PIDS"
