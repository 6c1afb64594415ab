#!/bin/sh
# Write the seed corpus of fuzz/fuzz_tetragonevent.c: every event of the
# system tests' fixture (tests/tetragon/events.jsonl) in Tetragon's binary
# wire form, encoded by Tetragon's own Go API module through the test
# peer, plus a few hand-made malformed seeds.  Needs Go; run from the
# repository root.  It replaces every file in fuzz/corpus/tetragonevent.
set -eu
GO=${GO:-/usr/local/go/bin/go}
out=fuzz/corpus/tetragonevent
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT

(cd tests/tetragon/peer && "$GO" build -o "$bin/peer" .)
rm -f "$out"/*
mkdir -p "$out"
"$bin/peer" -fixture tests/tetragon/events.jsonl -dump "$out"

# A kprobe field with a varint, a cut length, a group, an empty message.
printf '\110\001' > "$out/bad_wire.bin"
printf '\112\050\012' > "$out/cut_length.bin"
printf '\113' > "$out/group.bin"
: > "$out/empty.bin"
ls -l "$out"
