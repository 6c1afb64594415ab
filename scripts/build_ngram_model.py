#!/usr/bin/env python3
"""Build data/ngram-model.txt, the character trigram model of the dga
detector, from real benign names.

Training names, all lowercase, from three sources:
  - top-sites: the first label of the registrable domain of each of the
    500 root domains of scripts/accuracy/top-sites.txt (the npm package
    top-sites, Moz's most linked-to domains; provenance in that file);
  - homepage: the same for every Homepage URL in Debian's package index
    (`apt-cache dumpavail`; run `apt-get update` first);
  - words: the words of /usr/share/dict/words (Debian package wamerican)
    made of the letters a-z only.
Registrable domains are found with libpsl through ctypes, as the daemon
finds them.  A label found in several sources belongs to the first one
above.  Each source's sorted labels are split: every HOLDOUT_EVERY-th one
(every 5th of top-sites, which is small) is held out, never counted, and
written with its source and a domain that has it as its registrable label
to scripts/accuracy/benign-heldout.txt, the benign half of the dga
accuracy measurement (scripts/accuracy/dga_accuracy.py).
The model counts character trigrams of the other nine tenths, each name
framed as "^^name$".  Only the counts are written; the daemon derives
log P(c | ab) = log((count(abc) + 1) / (count(ab) + V)) (add-one
smoothing over the V symbols that can follow a context).  A label's
score is the mean of that log-probability over its len + 1 predictions.
The threshold written to the header is the 0.5th percentile of the
scores of the held-out names of EVAL_MIN_LEN or more characters: about 1
in 200 such benign names scores below it.  Shorter names are left out of
that figure because the detector never scores them (it looks at labels of
minLength, default 12, or more) and a mean over a handful of predictions
swings too far to set a threshold by.

Usage: scripts/build_ngram_model.py [OUTPUT [HELD_OUT]]
(defaults data/ngram-model.txt and scripts/accuracy/benign-heldout.txt;
run from the repository root).  The output depends only on the three
sources, apart from the build date in its header.
"""

import ctypes
import ctypes.util
import datetime
import math
import os
import random
import re
import subprocess
import sys
import urllib.parse

ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789-"
START, END = "^", "$"
V = len(ALPHABET) + 1  # symbols that can follow a context: ALPHABET and $
WORDS = "/usr/share/dict/words"
HOLDOUT_EVERY = 10
HOLDOUT_TOP_SITES = 5
TOP_SITES = "scripts/accuracy/top-sites.txt"
HELD_OUT = "scripts/accuracy/benign-heldout.txt"
PERCENTILE = 0.5
EVAL_MIN_LEN = 8


def psl_open():
    path = ctypes.util.find_library("psl")
    if path is None:
        sys.exit("libpsl not found (apt-get install libpsl5)")
    lib = ctypes.CDLL(path)
    lib.psl_latest.restype = ctypes.c_void_p
    lib.psl_latest.argtypes = [ctypes.c_char_p]
    lib.psl_builtin.restype = ctypes.c_void_p
    lib.psl_registrable_domain.restype = ctypes.c_char_p
    lib.psl_registrable_domain.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    ctx = lib.psl_latest(None) or lib.psl_builtin()
    return lambda host: lib.psl_registrable_domain(ctx, host.encode())


def registrable_labels(hosts, registrable):
    """{label: domain} for the registrable domains of hosts."""
    labels = {}
    for host in hosts:
        host = host.strip().lower().rstrip(".")
        if not re.fullmatch(r"[a-z0-9.-]+", host) or \
                re.fullmatch(r"[0-9.]+", host):
            continue
        reg = registrable(host)
        if reg is None:
            continue
        reg = reg.decode()
        label = reg.split(".")[0]
        if not label.startswith("xn--"):
            labels.setdefault(label, reg)
    return labels


def top_sites_labels(registrable):
    with open(TOP_SITES, encoding="ascii") as f:
        hosts = [line for line in f if not line.startswith("#")]
    return registrable_labels(hosts, registrable)


def homepage_labels(registrable):
    out = subprocess.run(["apt-cache", "dumpavail"], check=True,
                         capture_output=True, text=True).stdout
    hosts = []
    for line in out.splitlines():
        if line.lower().startswith("homepage:"):
            url = line.split(":", 1)[1].strip()
            hosts.append(urllib.parse.urlsplit(url).hostname or "")
    return registrable_labels(hosts, registrable)


def dictionary_words():
    if not os.path.exists(WORDS):
        sys.exit(WORDS + " missing (apt-get install wamerican)")
    with open(WORDS, encoding="utf-8", errors="replace") as f:
        words = {w.strip().lower() for w in f}
    return {w: w + ".com" for w in words if re.fullmatch(r"[a-z]+", w)}


def split_sources(sources):
    """Train and held-out names: [(source, label, domain)] each."""
    trained, held, taken = [], [], set()
    for source, labels in sources:
        every = HOLDOUT_TOP_SITES if source == "top-sites" else \
            HOLDOUT_EVERY
        mine = sorted(set(labels) - taken)
        taken |= set(mine)
        for i, label in enumerate(mine):
            row = (source, label, labels[label])
            (held if i % every == every - 1 else trained).append(row)
    return trained, held


def symbol(c):
    return c if c in ALPHABET else "-"


def trigrams(name):
    s = START + START + "".join(symbol(c) for c in name) + END
    return [s[i:i + 3] for i in range(len(s) - 2)]


def train(names):
    counts = {}
    for name in names:
        for t in trigrams(name):
            counts[t] = counts.get(t, 0) + 1
    contexts = {}
    for t, n in counts.items():
        contexts[t[:2]] = contexts.get(t[:2], 0) + n
    return counts, contexts


def score(name, counts, contexts):
    ts = trigrams(name)
    total = 0.0
    for t in ts:
        total += math.log((counts.get(t, 0) + 1) /
                          (contexts.get(t[:2], 0) + V))
    return total / len(ts)


def percentile(values, pct):
    values = sorted(values)
    k = max(0, min(len(values) - 1, int(len(values) * pct / 100.0)))
    return values[k]


def random_labels(n, length, seed=1):
    rng = random.Random(seed)
    chars = "abcdefghijklmnopqrstuvwxyz0123456789"
    return ["".join(rng.choice(chars) for _ in range(length))
            for _ in range(n)]


def write_model(path, counts, header, directives):
    with open(path, "w", encoding="ascii") as f:
        for line in header:
            f.write("# " + line + "\n")
        for line in directives:
            f.write(line + "\n")
        for t in sorted(counts):
            f.write("%s %d\n" % (t, counts[t]))


def write_held_out(path, held):
    with open(path, "w", encoding="ascii") as f:
        f.write("# Benign names held out of data/ngram-model.txt by\n"
                "# scripts/build_ngram_model.py (same build): source, then a"
                " domain\n# whose registrable label is the held-out name."
                "  Sources and\n# provenance: see that script.\n")
        for source, _, domain in sorted(held):
            f.write("%s\t%s\n" % (source, domain))


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "data/ngram-model.txt"
    held_path = sys.argv[2] if len(sys.argv) > 2 else HELD_OUT
    registrable = psl_open()
    sources = [("top-sites", top_sites_labels(registrable)),
               ("homepage", homepage_labels(registrable)),
               ("words", dictionary_words())]
    trained, held = split_sources(sources)
    counts, contexts = train(label for _, label, _ in trained)

    held_eval = [score(n, counts, contexts) for _, n, _ in held
                 if len(n) >= EVAL_MIN_LEN]
    threshold = percentile(held_eval, PERCENTILE)
    held_long = [score(n, counts, contexts) for _, n, _ in held
                 if len(n) >= 12]
    rnd = [score(n, counts, contexts) for n in random_labels(2000, 12)]
    caught = sum(1 for s in rnd if s <= threshold) / len(rnd)
    false_long = sum(1 for s in held_long if s <= threshold)
    sizes = {name: len(labels) for name, labels in sources}

    header = [
        "ugallu-dns-detect character trigram model (dga detector)",
        "built by scripts/build_ngram_model.py on %s"
        % datetime.date.today().isoformat(),
        "training names: registrable-domain labels of %d top sites"
        % sizes["top-sites"],
        "  (npm top-sites 1.1.222, scripts/accuracy/top-sites.txt) and of"
        " %d" % sizes["homepage"],
        "  Homepage URLs in Debian's package index; %d words of" %
        sizes["words"],
        "  %s (wamerican); every %dth of each source (every %dth"
        % (WORDS, HOLDOUT_EVERY, HOLDOUT_TOP_SITES),
        "  top site) held out: %d trained, %d held (listed in"
        % (len(trained), len(held)),
        "  %s)" % HELD_OUT,
        "format: one 'abc N' line per seen trigram (N = count); '^' pads"
        " the",
        "  start, '$' ends a name, other characters map to '-';",
        "  log P(c|ab) = ln((N(abc) + 1) / (N(ab) + V)), V = %d;" % V,
        "  score = mean ln P over the len + 1 predictions of a label",
        "threshold: 0.5th percentile of the scores of the %d held-out"
        % len(held_eval),
        "  names of %d+ chars; evaluation against it:" % EVAL_MIN_LEN,
        "  held-out names of 12+ chars at or below it: %d of %d;"
        % (false_long, len(held_long)),
        "  random [a-z0-9]{12} labels at or below it: %.1f%%"
        % (100.0 * caught),
    ]
    directives = ["symbols %d" % V, "threshold %.4f" % threshold]
    write_model(out, counts, header, directives)
    write_held_out(held_path, held)
    for line in header + directives:
        print(line)
    print("%d trigrams written to %s" % (len(counts), out))


if __name__ == "__main__":
    main()
