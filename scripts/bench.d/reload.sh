#!/bin/sh
# Reloading a million-entry blocklist while the live daemon takes a dnstap
# stream: the bench corpus is pushed into the daemon's socket by the Go
# dnstap tool while SIGHUP asks for three reloads.  Prints how long each
# reload took and the daemon's end-of-run counts; dropped=0 means no event
# was lost to the reloads (the dnstap source pushes back on its sender
# when the queue is full).  SIGHUPs that arrive during a reload are
# merged into it, as signals are.  Figures only.
# Usage: scripts/bench.d/reload.sh BINARY
set -eu
bin=${1:-build/ugallu-dns-detect}
corpus=build/bench-data/corpus.dnstap
[ -f "$corpus" ] || corpus=data/sample/sample.dnstap
command -v dnstap >/dev/null || { echo "reload bench: no dnstap tool"; exit 0; }
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT

/usr/bin/python3 - "$work/list.txt" <<'PY'
import random, sys
rnd = random.Random(7)
words = "alpha bravo cargo delta echo fox golf hotel india juliet kilo".split()
with open(sys.argv[1], "w") as f:
    for i in range(1_000_000):
        f.write("%s%d-%s.%s\n" % (rnd.choice(words), i,
                rnd.choice(words), rnd.choice(["com", "net", "org", "io"])))
PY
cat >"$work/config.yaml" <<YAML
apiVersion: security.ugallu.io/v1alpha1
kind: DNSDetectConfig
metadata: { name: default }
spec:
  detectors:
    blocklist: { enabled: true, files: [ $work/list.txt ] }
YAML

UGALLU_DATA_DIR=data "$bin" --standalone --config "$work/config.yaml" \
    --dnstap-socket "$work/sock" --metrics-bind-address 0 \
    --health-probe-bind-address 0 >/dev/null 2>"$work/log" &
pid=$!
while ! [ -S "$work/sock" ]; do
    kill -0 "$pid" 2>/dev/null || { cat "$work/log"; exit 1; }
    sleep 0.1
done
echo "== blocklist reload under load: 1000000 entries, $(du -h "$corpus" | cut -f1) of dnstap"
dnstap -r "$corpus" -U "$work/sock" 2>/dev/null &
sender=$!
for i in 1 2 3; do
    sleep 0.3
    kill -HUP "$pid"
done
wait "$sender"
sleep 2
kill -TERM "$pid"
wait "$pid" || true
grep -E 'blocklist (re)?loaded' "$work/log" | sed 's/.*msg=/  /'
grep 'msg="stopped"' "$work/log" | sed 's/.*msg="stopped" /  /'
