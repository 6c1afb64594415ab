#!/bin/sh
# The blocklist at a million entries: load time, bytes per entry, lookup
# cost (hits and misses), reload time, and reloads while another thread
# checks without pause (checks done meanwhile, the longest single check,
# and the same with no reload as a baseline).  Figures only.
# Usage: scripts/bench.d/blocklist.sh BINARY   (bench_blocklist is looked
# for in the binary's build directory, then in build/bench)
set -eu
bin=${1:-build/ugallu-dns-detect}
bench=$(dirname "$bin")/bench/bench_blocklist
[ -x "$bench" ] || bench=build/bench/bench_blocklist
echo "== blocklist: ${BENCH_BL_ENTRIES:-1000000} entries ($bench)"
"$bench" "${BENCH_BL_ENTRIES:-1000000}"
