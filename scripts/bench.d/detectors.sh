#!/bin/sh
# Per-detector cost: the bench corpus (or the bundled sample when the
# corpus is missing) decoded once into memory as transactions, then each
# detector alone and all together over every event, in CPU nanoseconds
# per event (bench/bench_detectors.c).  Figures only, nothing asserted.
# Usage: scripts/bench.d/detectors.sh BINARY
set -eu
bin=${1:-build/ugallu-dns-detect}
tool=$(dirname "$bin")/bench/bench_detectors
[ -x "$tool" ] || tool=build/bench/bench_detectors
corpus=build/bench-data/corpus.dnstap
[ -f "$corpus" ] || corpus=data/sample/sample.dnstap
echo "== detector cost per event ($corpus, at most 500000 transactions)"
UGALLU_DATA_DIR=data "$tool" "$corpus" bench/config.yaml 500000 2>/dev/null
