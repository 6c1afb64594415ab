#!/usr/bin/env python3
"""Build data/ngram-model.txt, the character 4-gram model of the dga
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
  - words: the words of /usr/share/dict/american-english and
    british-english (Debian packages wamerican and wbritish) made of the
    letters a-z only.
A label found in several sources belongs to the first one above.

Split, by a hash of the label so a name keeps its side when sources
change: a fifth of the host-name labels and a tenth of the words are the
test set, never counted, written with their source and a domain to
scripts/accuracy/benign-heldout.txt for scripts/accuracy/dga_accuracy.py.
The rest is the training set, to which are added the index names: the
package names of the same index and the words of its maintainers' names
(each word, and the words run together: "kovidgoyal"), except those that
are a label already and those holding a held-out label of MIN_LEN or
more characters, so that no test name is learnt through them.

The model is an interpolated Kneser-Ney model of ORDER symbols: each
name is framed as "^^^name$", the highest order counts occurrences, the
lower orders count the distinct symbols seen before (continuation
counts), and P(c | h) = max(N(hc) - D, 0) / N(h.) + D T(h) / N(h.)
P(c | h') down to 1 / V.  The file lists ln P of every n-gram kept and
ln of the weight D T(h) / N(h.) of every context, so that the daemon
finds ln P(c | h) as the longest listed n-gram ending h c plus the
weights of the longer contexts passed over.  4-grams seen once are
dropped (they would make the file a third larger).  A label's score is
the mean ln P over its len + 1 predictions.  Values are rounded to 3
decimals before anything uses them, so this script and the daemon score
alike.

Thresholds are calibrated on the training side only, by 5-fold
cross-validation: the training host names are cut in five folds, each
scored by a model built without it (nor the index names holding a label
of it).  For each class of label (letters only; with a digit or '-') and
each length, the mean and standard deviation of those out-of-fold
scores (lengths with fewer than POOL_MIN names pool their neighbours)
give the threshold mean + z sd, with one z for all, the one at which
TARGET_RATE of the training host names fire at the recommended
settings (minLength REC_MIN_LEN, minEntropy REC_MIN_ENTROPY, the
detector's entropy estimate; names under a platform suffix, which the
detector does not judge, never fire).  Words are counted but not used
for calibration: host names are what the detector sees and they score
worse than words.  Lengths under MIN_LEN get no threshold (the detector
never fires on them).  The burst thresholds are calibrated the same
way with BURST_RATE of the host names firing at minLength MIN_LEN: the
looser bar the detector uses for the names of a client that has just
had several suspicious names answered NXDOMAIN.  The test set plays no
part, and no generated DGA name plays any part in the model or its
thresholds.

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
WORDS = ("/usr/share/dict/american-english",
         "/usr/share/dict/british-english")
PSL = "/usr/share/publicsuffix/public_suffix_list.dat"
TOP_SITES = "scripts/accuracy/top-sites.txt"
HELD_OUT = "scripts/accuracy/benign-heldout.txt"
HOST_SOURCES = ("top-sites", "homepage", "maintainer", "psl")
TEST_HOSTS_EVERY = 5    # one host-name label in 5 is test
TEST_WORDS_EVERY = 10   # one word in 10 is test
FOLDS = 5
TARGET_RATE = 0.005     # of host names flagged at the settings below
REC_MIN_LEN = 6         # the recommended minLength and minEntropy
REC_MIN_ENTROPY = 2.5
BURST_RATE = 0.05       # of host names flagged at the burst thresholds
POOL_MIN = 400
MIN_LEN = 4
MAX_LEN = 24            # the threshold of this length serves longer ones
ORDER = 4               # symbols of the longest n-gram
DISCOUNT = 0.75         # Kneser-Ney absolute discount
CUTOFF = 2              # n-grams of ORDER seen fewer times are dropped
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
    lib.psl_builtin.argtypes = []
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
    words = set()
    for path in WORDS:
        if not os.path.exists(path):
            sys.exit(path + " missing (apt-get install wamerican wbritish)")
        with open(path, encoding="utf-8", errors="replace") as f:
            words |= {w.strip().lower() for w in f}
    return {w: w + ".com" for w in words if re.fullmatch(r"[a-z]+", w)}


def index_names(index):
    """Package names and the words of maintainers' personal names (each
    word, and the words run together) of the package index."""
    fields = re.compile(r"(?i)(maintainer|uploaders|original-maintainer):")
    names = set()
    for line in index.splitlines():
        if line.startswith("Package:"):
            names.add(re.sub(r"[^a-z0-9-]", "-", line[8:].strip().lower()))
        elif fields.match(line):
            for who in re.findall(r"([^,<>:]+)<", line.split(":", 1)[1]):
                words = [w for w in re.findall(r"[a-z]+", who.lower())
                         if len(w) > 1]
                if 0 < len(words) <= 4:
                    names.update(words)
                    names.add("".join(words))
    return names


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


def inside(name, labels):
    """The labels of MIN_LEN+ characters found in name."""
    return {name[i:j] for i in range(len(name))
            for j in range(i + MIN_LEN, len(name) + 1) if name[i:j] in labels}


def extra_names(index, trained, held):
    """Index names that are not labels already, without any name that
    holds a held-out label; {name: training host labels inside it}."""
    known = {label for _, label, _ in trained + held}
    held_labels = {label for _, label, _ in held}
    hosts = {label for source, label, _ in trained
             if source in HOST_SOURCES}
    return {n: inside(n, hosts) for n in sorted(index_names(index) - known)
            if not inside(n, held_labels)}


def symbol(c):
    return c if c in ALPHABET else "-"


def grams(name):
    """(context, symbol) of each prediction of name, padded with '^'."""
    s = START * (ORDER - 1) + "".join(symbol(c) for c in name) + END
    return [(s[i - ORDER + 1:i], s[i]) for i in range(ORDER - 1, len(s))]


def kn_counts(names):
    """Counts by n-gram for the Kneser-Ney model: the highest order and
    n-grams that start at '^' count occurrences, the others count the
    distinct symbols seen before them (continuation counts)."""
    full = {}
    for name in names:
        for ctx, c in grams(name):
            g = ctx + c
            for k in range(1, ORDER + 1):
                full[g[-k:]] = full.get(g[-k:], 0) + 1
    counts = {g: n for g, n in full.items()
              if len(g) == ORDER or g[0] == START}
    for g in full:
        if len(g) > 1 and g[1] != START:
            counts[g[1:]] = counts.get(g[1:], 0) + 1
    return counts, full


def train(names):
    """The model: ({n-gram: ln P}, {context: ln backoff weight}).

    Interpolated Kneser-Ney with one discount: P(c | h) = max(N(hc) - D,
    0) / N(h.) + D T(h) / N(h.) P(c | h'), with h' the context h less its
    first symbol, N the counts of kn_counts, T(h) the distinct symbols
    seen after h, and P(c) interpolated with 1 / V at the bottom.  An
    n-gram of the highest order seen fewer than CUTOFF times is dropped
    (its probability is then backoff weight times lower order) and so
    are contexts left with no n-gram."""
    counts, full = kn_counts(names)
    total, types = {}, {}
    for g, n in counts.items():
        total[g[:-1]] = total.get(g[:-1], 0) + n
        types[g[:-1]] = types.get(g[:-1], 0) + 1
    logp = {}
    for g in sorted(counts, key=len):
        if len(g) == ORDER and full[g] < CUTOFF and g[-1] != END:
            continue
        h = g[:-1]
        lower = math.exp(logp[g[1:]]) if h else 1.0 / V
        logp[g] = round(math.log(max(counts[g] - DISCOUNT, 0) / total[h] +
                                 DISCOUNT * types[h] / total[h] * lower),
                        3)
    kept = {g[:-1] for g in logp}
    backoff = {h: round(math.log(DISCOUNT * types[h] / total[h]), 3)
               for h in kept if h}
    return logp, backoff


def lookup(logp, backoff, ctx, c):
    """ln P(c | ctx): the longest n-gram of the model that ends the
    context and c, times the backoff weights of the longer contexts
    passed over; 1 / V when not even c is known."""
    acc = 0.0
    while True:
        v = logp.get(ctx + c)
        if v is not None:
            return acc + v
        if not ctx:
            return acc + math.log(1.0 / V)
        acc += backoff.get(ctx, 0.0)
        ctx = ctx[1:]


def score(name, model):
    """Mean ln P over the len + 1 predictions of name."""
    logp, backoff = model
    ps = [lookup(logp, backoff, ctx, c) for ctx, c in grams(name)]
    return sum(ps) / len(ps)


def label_class(label):
    """0 for a label of letters only, 1 for one with a digit or '-'."""
    return 0 if re.fullmatch(r"[a-z]+", label) else 1


def entropy(label):
    """The detector's Chao-Shen entropy estimate of label, in bits."""
    n, counts = len(label), {}
    for c in label:
        counts[symbol(c)] = counts.get(symbol(c), 0) + 1
    single = sum(1 for k in counts.values() if k == 1)
    cover = 1.0 - (single if single < n else n - 1) / n
    h = 0.0
    for k in counts.values():
        p = cover * k / n
        h -= p * math.log2(p) / (1.0 - (1.0 - p) ** n)
    return h


def out_of_fold(trained, extra):
    """{label: score} of each training host name by a model counted
    without its fold (nor the index names that hold a label of it)."""
    names = [label for _, label, _ in trained]
    hosts = [label for source, label, _ in trained
             if source in HOST_SOURCES]
    scores = {}
    for fold in range(FOLDS):
        mine = {h for h in hosts if label_hash(h) // 10 % FOLDS == fold}
        model = train([n for n in names if n not in mine] +
                      [n for n, held in extra.items() if not held & mine])
        for h in mine:
            scores[h] = score(h, model)
    return scores


def pooled(by_len, length):
    """Scores of labels of length, with those of the nearest lengths until
    there are POOL_MIN."""
    pool, width = list(by_len.get(length, [])), 0
    while len(pool) < POOL_MIN and width < MAX_LEN:
        width += 1
        pool += by_len.get(length - width, []) + \
            by_len.get(length + width, [])
    return pool


def spread(scores):
    """{(class, length): (mean, standard deviation)} of scores, pooled."""
    out = {}
    for c in (0, 1):
        by_len = {}
        for label, s in scores.items():
            if label_class(label) == c:
                by_len.setdefault(min(len(label), MAX_LEN), []).append(s)
        for length in range(MIN_LEN, MAX_LEN + 1):
            pool = pooled(by_len, length)
            mean = sum(pool) / len(pool)
            sd = math.sqrt(sum((x - mean) ** 2 for x in pool) / len(pool))
            out[c, length] = (mean, sd)
    return out


def platform_labels(trained, psl, provider_names):
    """Training host labels the detector does not judge: those under a
    suffix of the private section of the public suffix list (such as
    github.io) that is not a listed provider."""
    lib, _ = psl
    out = set()
    for source, label, domain in trained:
        suffix = domain.split(".", 1)[1] if "." in domain else ""
        if source in HOST_SOURCES and suffix not in provider_names and \
                not lib.psl_is_public_suffix2(lib.psl_builtin(),
                                              suffix.encode(), 1):
            out.add(label)
    return out


def calibrate(scores, skipped, rate=TARGET_RATE, min_len=REC_MIN_LEN):
    """[(length, letters threshold, others threshold)] for MIN_LEN to
    MAX_LEN: mean + Z * sd of the scores of that class and length, with Z
    such that rate of the host names of scores fire at minLength min_len
    and minEntropy REC_MIN_ENTROPY (the skipped ones never fire)."""
    par = spread(scores)

    def z(label, s):
        mean, sd = par[label_class(label), min(len(label), MAX_LEN)]
        return (s - mean) / sd

    judged = sorted(z(label, s) for label, s in scores.items()
                    if label not in skipped and len(label) >= min_len and
                    entropy(label) >= REC_MIN_ENTROPY)
    zt = judged[int(len(scores) * rate)]
    return [(n,) + tuple(par[c, n][0] + zt * par[c, n][1] for c in (0, 1))
            for n in range(MIN_LEN, MAX_LEN + 1)]


def threshold_of(thresholds, name):
    best = None
    for n, letters, others in thresholds:
        if n <= len(name):
            best = (letters, others)[label_class(name)]
    return best


def random_labels(n, length, seed=1):
    rng = random.Random(seed)
    chars = "abcdefghijklmnopqrstuvwxyz0123456789"
    return ["".join(rng.choice(chars) for _ in range(length))
            for _ in range(n)]


def write_model(path, model, header, directives):
    logp, backoff = model
    with open(path, "w", encoding="ascii") as f:
        for line in header:
            f.write("# " + line + "\n")
        for line in directives:
            f.write(line + "\n")
        for g in sorted(set(logp) | set(backoff)):
            p = "%.3f" % logp[g] if g in logp else "x"
            if g in backoff:
                f.write("%s %s %.3f\n" % (g, p, backoff[g]))
            else:
                f.write("%s %s\n" % (g, p))


def write_held_out(path, held):
    with open(path, "w", encoding="ascii") as f:
        f.write("# Benign names held out of data/ngram-model.txt (the test"
                " set) by\n# scripts/build_ngram_model.py (same build):"
                " source, then a domain\n# whose registrable label is the"
                " held-out name.  Sources and\n# provenance: see that"
                " script.\n")
        for source, _, domain in sorted(held):
            f.write("%s\t%s\n" % (source, domain))


def flagged(names, thresholds, model):
    hits = 0
    for n in names:
        t = threshold_of(thresholds, n)
        hits += t is not None and score(n, model) <= t
    return hits


def header_lines(sizes, trained, held, nextra, evaluation):
    ntrain_hosts = sum(1 for s, _, _ in trained if s in HOST_SOURCES)
    return [
        "ugallu-dns-detect character %d-gram model (dga detector)" % ORDER,
        "built by scripts/build_ngram_model.py on %s"
        % datetime.date.today().isoformat(),
        "training names: registrable-domain labels of host names:",
        "  %d top sites (npm top-sites 1.1.222), %d Debian Homepage URLs,"
        % (sizes["top-sites"], sizes["homepage"]),
        "  %d Debian maintainer mail domains, %d from the public suffix"
        % (sizes["maintainer"], sizes["psl"]),
        "  list (publicsuffix package); %d words of %s"
        % (sizes["words"], " and ".join(os.path.basename(w)
                                        for w in WORDS)),
        "  (/usr/share/dict, wamerican and wbritish); %d package names and"
        % nextra,
        "  words of maintainers' names of Debian's package index",
        "split by a hash of the label: 1 in %d host names and 1 in %d"
        % (TEST_HOSTS_EVERY, TEST_WORDS_EVERY),
        "  words held out as the test set (%s):" % HELD_OUT,
        "  %d labels trained (%d host names), %d held out; index names"
        % (len(trained), ntrain_hosts, len(held)),
        "  holding a held-out label are not used",
        "format: 'GRAM LOGP [BACKOFF]': GRAM is 1 to %d symbols, the last"
        % ORDER,
        "  predicted after the others; '^' pads the start (%d of them),"
        % (ORDER - 1),
        "  '$' ends a name, other characters than a-z 0-9 - map to '-';",
        "  LOGP = ln P(last | others) ('x': GRAM is only a context),",
        "  BACKOFF = ln of the weight of GRAM as a context;",
        "  interpolated Kneser-Ney, discount %.2f, %d-grams seen fewer"
        % (DISCOUNT, ORDER),
        "  than %d times dropped; ln P(c | h) is LOGP of the longest"
        % CUTOFF,
        "  listed h'c (h' a suffix of h) plus BACKOFF of the longer",
        "  suffixes of h passed over; ln(1/%d) when c is not listed" % V,
        "  score = mean ln P over the len + 1 predictions of a label",
        "'threshold LEN X Y': labels of LEN or more characters (up to the",
        "  next line) fire at or below X (letters only) or Y (with a digit",
        "  or '-'): mean + z sd of the %d-fold out-of-fold scores of" % FOLDS,
        "  training host names of that class and length (pooled with",
        "  neighbours to %d+ names), one z for all such that %.1f%% of"
        % (POOL_MIN, 100 * TARGET_RATE),
        "  those host names fire at minLength %d, minEntropy %.1f; none"
        % (REC_MIN_LEN, REC_MIN_ENTROPY),
        "  below %d" % MIN_LEN,
        "'burst-threshold LEN X Y': the same with %.0f%% of those host"
        % (100 * BURST_RATE),
        "  names firing at minLength %d; the bar for the names of a client"
        % MIN_LEN,
        "  in an NXDOMAIN burst",
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
    extra = extra_names(index, trained, held)
    skipped = platform_labels(trained, psl, set(providers(psl_file)))
    scores = out_of_fold(trained, extra)
    thresholds = calibrate(scores, skipped)
    burst = calibrate(scores, skipped, BURST_RATE, MIN_LEN)
    model = train([label for _, label, _ in trained] + sorted(extra))

    test_hosts = [n for s, n, _ in held if s in HOST_SOURCES]
    test_words = [n for s, n, _ in held if s == "words"]
    rnd = random_labels(2000, 12)
    evaluation = [
        "evaluation (test set, not used above): host names flagged"
        " %d of %d;" % (flagged(test_hosts, thresholds, model),
                        len(test_hosts)),
        "  words flagged %d of %d; random [a-z0-9]{12} flagged %.1f%%"
        % (flagged(test_words, thresholds, model), len(test_words),
           100.0 * flagged(rnd, thresholds, model) / len(rnd)),
    ]
    sizes = {name: len(labels) for name, labels in sources}
    header = header_lines(sizes, trained, held, len(extra), evaluation)
    directives = ["ngram-order %d" % ORDER]
    directives += ["threshold %d %.4f %.4f" % t for t in thresholds]
    directives += ["burst-threshold %d %.4f %.4f" % t for t in burst]
    directives += ["provider %s" % p for p in providers(psl_file)]
    write_model(out, model, header, directives)
    write_held_out(held_path, held)
    for line in header + directives:
        print(line)
    print("%d n-grams written to %s" % (len(model[0]), out))


if __name__ == "__main__":
    main()
