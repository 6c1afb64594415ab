#!/bin/sh
# The benchmarks.  Figures are printed, nothing is asserted.
#   1. Replay: a dnstap corpus of >= 1M frames made from the bundled real
#      capture, through the whole pipeline with every detector on: frames
#      and transactions per CPU second, wall time, peak RSS.
#   2. The event path alone (our reader, dnstap decoder and DNS parser
#      filling events, no detectors) and the generic loop (libfstrm +
#      protobuf-c unpack, which does not even parse the DNS messages) on
#      the same file, and the ratios to the generic loop.
# Usage: scripts/bench.sh BINARY
set -eu
bin=${1:-build/ugallu-dns-detect}
events=${BENCH_EVENTS:-1000000}
work=build/bench-data
corpus=$work/corpus.dnstap
mkdir -p "$work"

if [ ! -f "$corpus" ] || [ data/sample/sample.dnstap -nt "$corpus" ]; then
    /usr/bin/python3 scripts/gen_bench_corpus.py data/sample/sample.dnstap \
        "$corpus" --events "$events"
fi

echo "== replay through the whole pipeline ($(du -h "$corpus" | cut -f1))"
UGALLU_DATA_DIR=data /usr/bin/time -f "%U %S %e %M" -o "$work/time.txt" \
    "$bin" --standalone --config bench/config.yaml --replay "$corpus" \
    >"$work/findings.jsonl" 2>"$work/stderr.txt"
summary=$(grep 'replay done' "$work/stderr.txt")
echo "$summary" | sed 's/.*msg="replay done" //'
read -r user sys wall rss <"$work/time.txt"
messages=$(echo "$summary" | sed 's/.*messages=\([0-9]*\).*/\1/')
txns=$(echo "$summary" | sed 's/.* events=\([0-9]*\).*/\1/')
cpu=$(echo "$user + $sys" | bc -l)
ours=$(echo "$messages / $cpu" | bc -l)
printf "cpu_seconds=%.2f wall_seconds=%s peak_rss_mib=%.1f\n" "$cpu" \
    "$wall" "$(echo "$rss / 1024" | bc -l)"
printf "frames_per_cpu_second=%.0f transactions_per_cpu_second=%.0f\n" \
    "$ours" "$(echo "$txns / $cpu" | bc -l)"

rate() { sed 's/.*frames_per_second=\([0-9]*\).*/\1/'; }

echo "== our event path alone: Frame Streams + dnstap + DNS parse to events"
decode=$(build/bench/bench_decode_loop "$corpus")
echo "$decode"

echo "== generic loop: libfstrm read + protobuf-c unpack, same file"
loop=$(build/bench/bench_fstrm_loop "$corpus")
echo "$loop"

theirs=$(echo "$loop" | rate)
printf "ratio event path / generic decode = %.2f\n" \
    "$(echo "$(echo "$decode" | rate) / $theirs" | bc -l)"
printf "ratio whole pipeline / generic decode = %.2f\n" \
    "$(echo "$ours / $theirs" | bc -l)"

# Further benchmarks, one script each (detector costs, list loading,
# accuracy): each takes the binary and prints its own figures.
for extra in scripts/bench.d/*.sh; do
    [ -f "$extra" ] || continue
    echo
    sh "$extra" "$bin"
done
