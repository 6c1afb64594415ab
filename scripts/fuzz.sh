#!/bin/sh
# Run each libFuzzer target for a few seconds over a copy of its seed
# corpus.  Usage: scripts/fuzz.sh BUILD_DIR SECONDS
set -eu
build=$1
secs=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for target in "$build"/fuzz/fuzz_*; do
    [ -f "$target" ] && [ -x "$target" ] || continue
    name=$(basename "$target" | sed 's/^fuzz_//')
    mkdir -p "$work/$name"
    cp fuzz/corpus/"$name"/* "$work/$name"/ 2>/dev/null || true
    echo "fuzz $name: ${secs}s"
    "$target" -max_total_time="$secs" -print_final_stats=1 \
        "$work/$name" 2>&1 | grep -E '^(stat::number_of_executed_units|#.*DONE|==.*ERROR)' || true
done
