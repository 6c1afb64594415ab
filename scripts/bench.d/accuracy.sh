#!/bin/sh
# Accuracy: the dga tables (scripts/accuracy/dga_accuracy.py: generated
# names per DGA family and held-out benign names, through the binary's
# explain; scripts/accuracy/dga_sessions.py: whole sessions with their
# answers, replayed) and a tunneling quick check on the bundled sample
# (findings of the tunnel and TXT-burst clients, and none of the benign
# clients).
# Figures only, nothing asserted.
# Usage: scripts/bench.d/accuracy.sh BINARY
set -eu
bin=${1:-build/ugallu-dns-detect}
echo "== dga accuracy"
/usr/bin/python3 scripts/accuracy/dga_accuracy.py "$bin"
echo
echo "== dga accuracy in sessions (NXDOMAIN bursts)"
/usr/bin/python3 scripts/accuracy/dga_sessions.py "$bin" --min-length 12 \
    --min-entropy 3.5
echo
/usr/bin/python3 scripts/accuracy/dga_sessions.py "$bin" --min-length 6 \
    --min-entropy 2.5
echo
echo "== tunneling on the bundled sample"
/usr/bin/python3 scripts/accuracy/tunnel_sample.py "$bin"
