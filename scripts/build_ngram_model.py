#!/usr/bin/env python3
"""Build data/ngram-model.txt, the character trigram model of the dga
detector, from real benign names.

Training names, all lowercase: the first label of the registrable domain
(libpsl through ctypes, as the daemon finds it) of the host names of four
sources of real host names, and dictionary words:
  - top-sites: the 500 root domains of scripts/accuracy/top-sites.txt
    (the npm package top-sites, Moz's most linked-to domains);
  - homepage: every Homepage URL in Debian's package index
    (`apt-cache dumpavail`; run `apt-get update` first);
  - maintainer: the mail domains of the Maintainer, Uploaders and
    Original-Maintainer fields of that index;
  - psl: the entries of the private section of the public suffix list of
    Debian's publicsuffix package (the label left of their ICANN suffix:
    "cloudfront" of cloudfront.net) and the host names of the URLs and
    mail addresses in its comments (the submitters' organisations);
  - words: the words of /usr/share/dict/words (Debian package wamerican)
    made of the letters a-z only.
A label found in several sources belongs to the first one above.

Split, by a hash of the label so a name keeps its side when sources
change: a fifth of the host-name labels and a tenth of the words are the
test set, never counted, written with their source and a domain to
scripts/accuracy/benign-heldout.txt for scripts/accuracy/dga_accuracy.py.
The rest is the training set.  The model counts the character trigrams
of the training names, each framed as "^^name$"; only counts are written.
The daemon derives log P(c | ab) = log((count(abc) + 1) / (count(ab) + V))
(add-one smoothing over the V symbols that can follow a context).  A
label's score is the mean of that log-probability over its len + 1
predictions.

Thresholds, one per label length, are calibrated on the training side
only, by 5-fold cross-validation: the training host names are cut in
five folds, each scored by a model counted without it, and for each
length the threshold is the 0.5th percentile of those out-of-fold scores
of host names of that length (lengths with fewer than POOL_MIN names
pool their neighbours until they have that many).  Words are counted but
not used for calibration: host names are what the detector sees and they
score worse than words.  Lengths under MIN_LEN get no threshold (the
detector never fires on them).  The test set plays no part.

The model file also lists, as "provider" lines, the dynamic-DNS and
free-subdomain providers whose customers' labels the detector judges:
the entries of the PROVIDER_SECTIONS sections of the public suffix list
and EXTRA_PROVIDERS (providers the list does not have).

Usage: scripts/build_ngram_model.py [OUTPUT [HELD_OUT]]
(defaults data/ngram-model.txt and scripts/accuracy/benign-heldout.txt;
run from the repository root).  The output depends only on the sources,
apart from the build date in its header.
"""

import ctypes
import ctypes.util
import datetime
import hashlib
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
PSL = "/usr/share/publicsuffix/public_suffix_list.dat"
TOP_SITES = "scripts/accuracy/top-sites.txt"
HELD_OUT = "scripts/accuracy/benign-heldout.txt"
HOST_SOURCES = ("top-sites", "homepage", "maintainer", "psl")
TEST_HOSTS_EVERY = 5    # one host-name label in 5 is test
TEST_WORDS_EVERY = 10   # one word in 10 is test
FOLDS = 5
PERCENTILE = 0.5
POOL_MIN = 400
MIN_LEN = 4
MAX_LEN = 24            # the threshold of this length serves longer ones
# Headings of the public suffix list's private sections of dynamic-DNS
# providers (the text before " : " in the heading comment).
PROVIDER_SECTIONS = ("DuckDNS", "DynDNS.com", "Dynu.com", "dynv6",
                     "No-IP.com", "ddnss.de", "freemyip.com", "Now-DNS",
                     "DDNS5", "dy.fi", "DNShome", "TwoDNS")
# Free-subdomain providers used by DGAs that the list does not have:
# CO.CC and CZ.CC (closed 2011; Bamital's names were under them).
EXTRA_PROVIDERS = ("co.cc", "cz.cc")


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
    lib.psl_is_public_suffix2.argtypes = [ctypes.c_void_p, ctypes.c_char_p,
                                          ctypes.c_int]
    ctx = lib.psl_latest(None) or lib.psl_builtin()
    return lib, ctx


def registrable_labels(hosts, psl):
    """{label: domain} for the registrable domains of hosts."""
    lib, ctx = psl
    labels = {}
    for host in hosts:
        host = host.strip().lower().rstrip(".")
        if not re.fullmatch(r"[a-z0-9.-]+", host) or \
                re.fullmatch(r"[0-9.]+", host) or "." not in host:
            continue
        reg = lib.psl_registrable_domain(ctx, host.encode())
        if reg is None:
            continue
        reg = reg.decode()
        label = reg.split(".")[0]
        if label and not label.startswith("xn--"):
            labels.setdefault(label, reg)
    return labels


def top_sites_hosts():
    with open(TOP_SITES, encoding="ascii") as f:
        return [line for line in f if not line.startswith("#")]


def package_index():
    return subprocess.run(["apt-cache", "dumpavail"], check=True,
                          capture_output=True, text=True).stdout


def homepage_hosts(index):
    hosts = []
    for line in index.splitlines():
        if line.lower().startswith("homepage:"):
            url = line.split(":", 1)[1].strip()
            try:
                hosts.append(urllib.parse.urlsplit(url).hostname or "")
            except ValueError:
                continue
    return hosts


def mail_domains(text):
    return re.findall(r"@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)", text)


def maintainer_hosts(index):
    fields = re.compile(r"(?i)(maintainer|uploaders|original-maintainer):")
    return mail_domains("\n".join(line for line in index.splitlines()
                                  if fields.match(line)))


def psl_text():
    if not os.path.exists(PSL):
        sys.exit(PSL + " missing (apt-get install publicsuffix)")
    with open(PSL, encoding="utf-8") as f:
        return f.read()


def psl_private(text):
    """(heading, entry) of every rule of the private section."""
    private = text.split("===BEGIN PRIVATE DOMAINS===", 1)[1]
    out, heading = [], ""
    for line in private.splitlines():
        line = line.strip()
        if line.startswith("//"):
            if "Submitted by" not in line and line[2:].strip():
                heading = line[2:].strip()
        elif line:
            out.append((heading, line.lstrip("*.!").lower()))
    return out


def psl_labels(text, psl):
    """Labels left of the ICANN suffix of private entries, and the labels
    of the hosts named in the list's comments."""
    lib, ctx = psl
    labels = {}
    for _, entry in psl_private(text):
        parts = entry.split(".")
        for i in range(1, len(parts)):
            if lib.psl_is_public_suffix2(ctx, ".".join(parts[i:]).encode(),
                                         1):
                labels.setdefault(parts[i - 1], ".".join(parts[i - 1:]))
                break
    comments = "\n".join(line for line in text.splitlines()
                         if line.startswith("//"))
    hosts = re.findall(r"https?://([A-Za-z0-9.-]+)", comments) + \
        mail_domains(comments)
    for label, domain in registrable_labels(hosts, psl).items():
        labels.setdefault(label, domain)
    return {k: v for k, v in labels.items()
            if re.fullmatch(r"[a-z0-9-]+", k) and not k.startswith("xn--")}


def providers(text):
    names = set(EXTRA_PROVIDERS)
    for heading, entry in psl_private(text):
        if heading.split(" :")[0].split(":")[0].strip() in PROVIDER_SECTIONS:
            names.add(entry)
    return sorted(n for n in names if len(n) < 64)


def dictionary_words():
    if not os.path.exists(WORDS):
        sys.exit(WORDS + " missing (apt-get install wamerican)")
    with open(WORDS, encoding="utf-8", errors="replace") as f:
        words = {w.strip().lower() for w in f}
    return {w: w + ".com" for w in words if re.fullmatch(r"[a-z]+", w)}


def label_hash(label):
    return int(hashlib.sha256(label.encode()).hexdigest()[:12], 16)


def split_sources(sources):
    """Train and test names: [(source, label, domain)] each."""
    trained, held, taken = [], [], set()
    for source, labels in sources:
        every = TEST_HOSTS_EVERY if source in HOST_SOURCES else \
            TEST_WORDS_EVERY
        mine = sorted(set(labels) - taken)
        taken |= set(mine)
        for label in mine:
            row = (source, label, labels[label])
            (held if label_hash(label) % every == 0 else trained).append(row)
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


def out_of_fold(trained):
    """{label: score} of each training host name by a model counted
    without its fold."""
    names = [label for _, label, _ in trained]
    hosts = [label for source, label, _ in trained
             if source in HOST_SOURCES]
    scores = {}
    for fold in range(FOLDS):
        mine = {h for h in hosts if label_hash(h) // 10 % FOLDS == fold}
        counts, contexts = train(n for n in names if n not in mine)
        for h in mine:
            scores[h] = score(h, counts, contexts)
    return scores


def calibrate(scores):
    """[(length, threshold, names pooled)] for MIN_LEN..MAX_LEN."""
    by_len = {}
    for label, s in scores.items():
        by_len.setdefault(min(len(label), MAX_LEN), []).append(s)
    out = []
    for length in range(MIN_LEN, MAX_LEN + 1):
        pool, width = list(by_len.get(length, [])), 0
        while len(pool) < POOL_MIN and width < MAX_LEN:
            width += 1
            pool += by_len.get(length - width, []) + \
                by_len.get(length + width, [])
        out.append((length, percentile(pool, PERCENTILE), len(pool)))
    return out


def threshold_of(thresholds, length):
    best = None
    for n, t, _ in thresholds:
        if n <= length:
            best = t
    return best


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
        f.write("# Benign names held out of data/ngram-model.txt (the test"
                " set) by\n# scripts/build_ngram_model.py (same build):"
                " source, then a domain\n# whose registrable label is the"
                " held-out name.  Sources and\n# provenance: see that"
                " script.\n")
        for source, _, domain in sorted(held):
            f.write("%s\t%s\n" % (source, domain))


def flagged(names, thresholds, counts, contexts):
    hits = 0
    for n in names:
        t = threshold_of(thresholds, len(n))
        hits += t is not None and score(n, counts, contexts) <= t
    return hits


def header_lines(sources, trained, held, thresholds, evaluation):
    sizes = {name: len(labels) for name, labels in sources}
    ntrain_hosts = sum(1 for s, _, _ in trained if s in HOST_SOURCES)
    return [
        "ugallu-dns-detect character trigram model (dga detector)",
        "built by scripts/build_ngram_model.py on %s"
        % datetime.date.today().isoformat(),
        "training names: registrable-domain labels of host names:",
        "  %d top sites (npm top-sites 1.1.222), %d Debian Homepage URLs,"
        % (sizes["top-sites"], sizes["homepage"]),
        "  %d Debian maintainer mail domains, %d from the public suffix"
        % (sizes["maintainer"], sizes["psl"]),
        "  list (publicsuffix package); %d words of %s (wamerican)"
        % (sizes["words"], WORDS),
        "split by a hash of the label: 1 in %d host names and 1 in %d"
        % (TEST_HOSTS_EVERY, TEST_WORDS_EVERY),
        "  words held out as the test set (%s):" % HELD_OUT,
        "  %d names trained (%d host names), %d held out"
        % (len(trained), ntrain_hosts, len(held)),
        "format: one 'abc N' line per seen trigram (N = count); '^' pads"
        " the",
        "  start, '$' ends a name, other characters map to '-';",
        "  log P(c|ab) = ln((N(abc) + 1) / (N(ab) + V)), V = %d;" % V,
        "  score = mean ln P over the len + 1 predictions of a label",
        "'threshold LEN X': labels of LEN or more characters (up to the"
        " next",
        "  line) fire at or below X; X is the %.1fth percentile of the"
        % PERCENTILE,
        "  %d-fold out-of-fold scores of training host names of that"
        % FOLDS,
        "  length (pooled with neighbours to %d+ names); none below %d"
        % (POOL_MIN, MIN_LEN),
        "'provider NAME': dynamic-DNS / free-subdomain provider whose",
        "  customers' labels are judged (public suffix list sections",
        "  %s; and %s)" % (", ".join(PROVIDER_SECTIONS[:4]) + ", ...",
                            ", ".join(EXTRA_PROVIDERS)),
    ] + evaluation


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "data/ngram-model.txt"
    held_path = sys.argv[2] if len(sys.argv) > 2 else HELD_OUT
    psl = psl_open()
    index, psl_file = package_index(), psl_text()
    sources = [("top-sites", registrable_labels(top_sites_hosts(), psl)),
               ("homepage", registrable_labels(homepage_hosts(index), psl)),
               ("maintainer",
                registrable_labels(maintainer_hosts(index), psl)),
               ("psl", psl_labels(psl_file, psl)),
               ("words", dictionary_words())]
    trained, held = split_sources(sources)
    thresholds = calibrate(out_of_fold(trained))
    counts, contexts = train(label for _, label, _ in trained)

    test_hosts = [n for s, n, _ in held if s in HOST_SOURCES]
    test_words = [n for s, n, _ in held if s == "words"]
    rnd = random_labels(2000, 12)
    evaluation = [
        "evaluation (test set, not used above): host names flagged"
        " %d of %d;" % (flagged(test_hosts, thresholds, counts, contexts),
                        len(test_hosts)),
        "  words flagged %d of %d; random [a-z0-9]{12} flagged %.1f%%"
        % (flagged(test_words, thresholds, counts, contexts),
           len(test_words),
           100.0 * flagged(rnd, thresholds, counts, contexts) / len(rnd)),
    ]
    header = header_lines(sources, trained, held, thresholds, evaluation)
    directives = ["symbols %d" % V]
    directives += ["threshold %d %.4f" % (n, t) for n, t, _ in thresholds]
    directives += ["provider %s" % p for p in providers(psl_file)]
    write_model(out, counts, header, directives)
    write_held_out(held_path, held)
    for line in header + directives:
        print(line)
    print("%d trigrams written to %s" % (len(counts), out))


if __name__ == "__main__":
    main()
