#!/usr/bin/env python3
"""Measure the dga detector: the share of names flagged per DGA family and
of benign names the model was not trained on, as the product judges them.

Generated names come from scripts/accuracy/dga_families.py (generators
in the style of real families, not bit-exact; see there).  Benign names
are scripts/accuracy/benign-heldout.txt, the names
scripts/build_ngram_model.py held out of data/ngram-model.txt.  Every name
goes through the real binary, `ugallu-dns-detect explain --config CFG`
with the names on stdin, whose JSON line per name carries the dga verdict,
so the figures are the product's, with the shipped model and the
detector's own thresholds.

The verdicts here are the name's own.  A client in an NXDOMAIN burst
has its names judged at a looser bar; the share of benign names that
bar flags is printed under each table, and
scripts/accuracy/dga_sessions.py measures whole sessions with answers.

The config has only the dga detector on.  The table is printed twice:
at minLength 12 and minEntropy 3.5 (the seed example of the design) and
at the recommended minLength 6 and minEntropy 2.5, where the model's
per-length thresholds do the work; --min-length and --min-entropy print
one table at the settings given.  The target: at least 95 % of the names
of the non-dictionary families flagged at no more than 0.5 % of benign
names flagged.  Benign names are reported by source and summed apart for
real host names and dictionary words (words are the easy part).  No
generated name plays any part in building the model or its thresholds.
Figures are printed; nothing is asserted.

Columns: the family, its kind, its labels, the names generated and the
share flagged, then the names whose label is at least minLength long
(the detector judges no shorter label) and the share of those flagged.

Usage: scripts/accuracy/dga_accuracy.py BINARY [--per-family N]
       [--seed S] [--min-length L] [--min-entropy E]
Run from the repository root.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import dga_families  # noqa: E402

HELD_OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                        "benign-heldout.txt")
CONFIG = """apiVersion: security.ugallu.io/v1alpha1
kind: DNSDetectConfig
metadata: { name: dga-accuracy, namespace: ugallu-system }
spec:
  detectors:
    blocklist: { enabled: false }
    dga: { enabled: true, minLength: %d, minEntropy: %s }
    slowQuery: { enabled: false }
    tunneling: { enabled: false }
    exfiltration: { enabled: false }
    doh: { enabled: false }
    dot: { enabled: false }
    youngDomain: { enabled: false }
    anomalousPort: { enabled: false }
"""


def verdicts(binary, config, names, key="verdict"):
    """The dga verdict of each name, by the binary's explain (key
    "burst_verdict": at the bar for a client in an NXDOMAIN burst)."""
    proc = subprocess.run([binary, "explain", "--config", config],
                          input="\n".join(names) + "\n", text=True,
                          capture_output=True, check=True,
                          env=dict(os.environ, UGALLU_DATA_DIR="data"))
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    if len(lines) != len(names):
        sys.exit("explain gave %d lines for %d names" % (len(lines),
                                                          len(names)))
    return [bool(line["dga"][key]) for line in lines]


def held_out():
    rows = []
    with open(HELD_OUT, encoding="ascii") as f:
        for line in f:
            if not line.startswith("#") and line.strip():
                rows.append(line.split())
    return rows


def table_row(name, kind, labels, n, flagged, long_=None):
    """One line; long_ is (flagged, names) of labels of minLength+."""
    line = "%-14s %-10s %-20s %6d %7.1f%%" % (name, kind, labels, n,
                                             100.0 * flagged / max(n, 1))
    if long_ is not None:
        line += " %6d %7.1f%%" % (long_[1],
                                  100.0 * long_[0] / max(long_[1], 1))
    print(line)


def families(binary, config, per_family, seed, min_length):
    """Print one row per family; return (flagged, total) of random ones
    and of their names at least min_length long."""
    gen = dga_families.generate(per_family, seed)
    totals = [0, 0, 0, 0]
    for family, names in gen.items():
        _, kind, labels = dga_families.FAMILIES[family]
        flags = verdicts(binary, config, names)
        long_ = [f for n, f in zip(names, flags)
                 if len(n.split(".")[0]) >= min_length]
        table_row(family, kind, labels, len(names), sum(flags),
                  (sum(long_), len(long_)))
        if kind == "random":
            totals[0] += sum(flags)
            totals[1] += len(names)
            totals[2] += sum(long_)
            totals[3] += len(long_)
    return totals


def benign(binary, config):
    rows = held_out()
    flags = verdicts(binary, config, [d for _, d in rows])
    by_source = {}
    for (source, domain), f in zip(rows, flags):
        entry = by_source.setdefault(source, [0, 0, []])
        entry[0] += 1
        entry[1] += f
        if f:
            entry[2].append(domain)
    for source in sorted(by_source):
        n, k, which = by_source[source]
        table_row("benign", "held-out", source, n, k)
        if which:
            print("    flagged: " + " ".join(which[:10]))
    return split(rows, flags)


def split(rows, flags):
    """(flagged, total) of the host names and of the words."""
    hosts = [f for (source, _), f in zip(rows, flags) if source != "words"]
    words = [f for (source, _), f in zip(rows, flags) if source == "words"]
    return (sum(hosts), len(hosts)), (sum(words), len(words))


def burst_bar(binary, config):
    """Benign names flagged at the burst bar: what the ordinary lookups of
    a client in an NXDOMAIN burst would raise."""
    rows = held_out()
    hosts, words = split(rows, verdicts(binary, config,
                                        [d for _, d in rows],
                                        "burst_verdict"))
    print("at the burst bar (a client in an NXDOMAIN burst): benign "
          "host names %.1f%% of %d flagged, words %.1f%% of %d"
          % (100.0 * hosts[0] / hosts[1], hosts[1],
             100.0 * words[0] / words[1], words[1]))


def table(binary, per_family, seed, min_length, min_entropy):
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as cfg:
        cfg.write(CONFIG % (min_length, min_entropy))
        cfg.flush()
        print("dga accuracy: minLength %d, minEntropy %s, shipped model"
              % (min_length, min_entropy))
        print("%-14s %-10s %-20s %6s %8s %6s %8s"
              % ("family", "kind", "labels", "names", "flagged", "long",
                 "flagged"))
        flagged, total, lflagged, ltotal = families(
            binary, cfg.name, per_family, seed, min_length)
        hosts, words = benign(binary, cfg.name)
        burst_bar(binary, cfg.name)
    print("non-dictionary families: %.1f%% of %d names flagged; "
          "%.1f%% of the %d with labels of %d+ characters"
          % (100.0 * flagged / total, total,
             100.0 * lflagged / max(ltotal, 1), ltotal, min_length))
    print("benign held-out host names: %.2f%% of %d flagged; words: "
          "%.2f%% of %d; together %.2f%% (target <= 0.5%%)"
          % (100.0 * hosts[0] / hosts[1], hosts[1],
             100.0 * words[0] / words[1], words[1],
             100.0 * (hosts[0] + words[0]) / (hosts[1] + words[1])))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--per-family", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--min-length", type=int)
    ap.add_argument("--min-entropy")
    args = ap.parse_args()
    if args.min_length is not None or args.min_entropy is not None:
        settings = [(args.min_length or 12, args.min_entropy or "3.5")]
    else:
        settings = [(12, "3.5"), (6, "2.5")]
    for i, (length, entropy) in enumerate(settings):
        if i:
            print()
        table(args.binary, args.per_family, args.seed, length, entropy)


if __name__ == "__main__":
    main()
