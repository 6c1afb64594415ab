#!/bin/sh
# Accuracy: the dga table (scripts/accuracy/dga_accuracy.py: generated
# names per DGA family and held-out benign names, through the binary's
# explain) and a tunneling quick check on the bundled sample (findings of
# the tunnel and TXT-burst clients, and none of the benign clients).
# Figures only, nothing asserted.
# Usage: scripts/bench.d/accuracy.sh BINARY
set -eu
bin=${1:-build/ugallu-dns-detect}
echo "== dga accuracy"
/usr/bin/python3 scripts/accuracy/dga_accuracy.py "$bin"
echo
echo "== tunneling on the bundled sample"
/usr/bin/python3 scripts/accuracy/tunnel_sample.py "$bin"
