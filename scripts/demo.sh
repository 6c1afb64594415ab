#!/bin/sh
# Replay the bundled sample through the detector and show the findings.
# Usage: scripts/demo.sh BINARY
set -eu
bin=${1:-build/ugallu-dns-detect}
sample=data/sample
out=$(mktemp)
trap 'rm -f "$out"' EXIT

for capture in "$sample/sample.dnstap" "$sample/sample.pcap"; do
    [ -f "$capture" ] || continue
    echo "== $capture"
    UGALLU_DATA_DIR=data "$bin" --standalone --config "$sample/config.yaml" \
        --replay "$capture" >"$out"
    /usr/bin/python3 scripts/show_findings.py "$out"
    echo
done
echo "Each finding above is one SecurityEvent JSON line; see them with:"
echo "  $bin --standalone --config $sample/config.yaml --replay $sample/sample.dnstap"
