#!/usr/bin/env python3
"""Measure the dga detector on whole sessions of traffic, answers included:
infected clients that try their family's generated names one after the
other and get NXDOMAIN for nearly all of them, as DGA malware does, and
benign clients that ask for real names with the NXDOMAIN noise real
clients make.  The traffic is written as a pcap and replayed through the
real binary (`--standalone --replay`), so the figures are the product's:
the name's own bar and the looser burst bar the detector applies to a
client that has had nxdomainBurst suspicious names answered NXDOMAIN
within burstWindow, with the names of the burst reported once it is
recognised.

The traffic (reproducible from the seed):
- per DGA family, its names (scripts/accuracy/dga_families.py) in
  sessions of SESSION names per infected client, one query a second;
  every answer is NXDOMAIN except one name per session, which resolves
  (the domain the operator registered).  Real families try more names a
  day than this (conficker 250 to 500, necurs 2048), so a session of
  SESSION is the harder case: the names before the burst is recognised
  are a larger share of it.
- benign clients asking for the held-out benign names of
  scripts/accuracy/benign-heldout.txt in sessions of SESSION, answered
  with an address.  Around them, the NXDOMAIN noise of a pod: for one
  name in three, the search-path expansions a resolver with ndots 5 tries
  first (NAME.default.svc.cluster.local, NAME.svc.cluster.local,
  NAME.cluster.local); for one name in TYPO_EVERY, a typo (one letter
  changed) answered NXDOMAIN; and three random single-label names per
  session (a browser's probe for hijacking resolvers) with their
  search-path expansions.

Printed: per family the share of its names with a dga finding; for the
benign clients the share of benign names with one (host names and
dictionary words apart), and of the NXDOMAIN noise names with one.
Nothing is asserted.

Usage: scripts/accuracy/dga_sessions.py BINARY [--per-family N]
       [--seed S] [--min-length L] [--min-entropy E] [--json]
Run from the repository root.
"""

import argparse
import ipaddress
import json
import os
import random
import struct
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import dga_accuracy  # noqa: E402
import dga_families  # noqa: E402

SESSION = 50
TYPO_EVERY = 50
T0 = 1700000000
RESOLVER = "10.96.0.10"


# ---- a pcap of IPv4/UDP DNS messages --------------------------------------

def dns_name(name):
    out = b""
    for label in name.split("."):
        out += bytes([len(label)]) + label.encode("ascii")
    return out + b"\0"


def dns_message(qid, name, rcode=None):
    """A query (rcode None) or a response with that rcode; a NOERROR
    response carries one A record."""
    question = dns_name(name) + struct.pack("!HH", 1, 1)
    if rcode is None:
        return struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + question
    answers = 1 if rcode == 0 else 0
    msg = struct.pack("!HHHHHH", qid, 0x8180 | rcode, 1, answers, 0, 0)
    msg += question
    if answers:
        msg += b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 300, 4)
        msg += bytes([192, 0, 2, 1])
    return msg


def udp_ip(src, dst, sport, dport, payload):
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64,
                         17, 0, ipaddress.ip_address(src).packed,
                         ipaddress.ip_address(dst).packed)
    return header + udp


def write_pcap(path, packets):
    """packets: [(time in microseconds, raw IPv4 packet)], sorted."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535,
                            101))
        for usec, pkt in packets:
            f.write(struct.pack("<IIII", usec // 1000000, usec % 1000000,
                                len(pkt), len(pkt)))
            f.write(pkt)


class Traffic:
    """Queries and answers of many clients, in time order when written."""

    def __init__(self):
        self.packets = []
        self.qid = 0

    def ask(self, client, usec, name, rcode):
        self.qid += 1
        qid, port = self.qid & 0xffff, 1024 + self.qid % 60000
        self.packets.append((usec, udp_ip(client, RESOLVER, port, 53,
                                          dns_message(qid, name))))
        self.packets.append((usec + 2000, udp_ip(
            RESOLVER, client, 53, port, dns_message(qid, name, rcode))))

    def write(self, path):
        self.packets.sort(key=lambda p: p[0])
        write_pcap(path, self.packets)


# ---- the sessions ---------------------------------------------------------

def infected(traffic, rng, family_index, names):
    """Sessions of SESSION names per client, one NOERROR per session."""
    for s in range(0, len(names), SESSION):
        client = "10.%d.%d.%d" % (1 + family_index, s // SESSION // 250,
                                  1 + s // SESSION % 250)
        batch = names[s:s + SESSION]
        resolves = rng.randrange(len(batch))
        start = (T0 + rng.randrange(3600)) * 1000000
        for i, name in enumerate(batch):
            traffic.ask(client, start + i * 1000000, name,
                        0 if i == resolves else 3)


def typo(rng, name):
    label, _, rest = name.partition(".")
    i = rng.randrange(len(label))
    c = rng.choice([x for x in "abcdefghijklmnopqrstuvwxyz" if
                    x != label[i]])
    return label[:i] + c + label[i + 1:] + "." + rest


def search_path(name):
    return [name + ".default.svc.cluster.local", name + ".svc.cluster.local",
            name + ".cluster.local"]


def benign(traffic, rng, names):
    """Sessions of SESSION benign names per client, with NXDOMAIN noise;
    returns the noise names."""
    noise = []
    for s in range(0, len(names), SESSION):
        client = "10.200.%d.%d" % (s // SESSION // 250, 1 + s // SESSION %
                                   250)
        usec = (T0 + rng.randrange(3600)) * 1000000
        asked = []
        for name in names[s:s + SESSION]:
            if rng.randrange(3) == 0:
                asked += [(n, 3) for n in search_path(name)]
            if rng.randrange(TYPO_EVERY) == 0:
                asked.append((typo(rng, name), 3))
            asked.append((name, 0))
        for _ in range(3):
            probe = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz")
                            for _ in range(rng.randint(7, 15)))
            asked += [(n, 3) for n in [probe] + search_path(probe)]
        for name, rcode in asked:
            traffic.ask(client, usec, name, rcode)
            usec += 1000000
            if rcode == 3:
                noise.append(name)
    return noise


def held_out():
    """[(source, name)] of the held-out benign names."""
    return [(row[0], row[1]) for row in dga_accuracy.held_out()]


def flagged_names(binary, config, pcap):
    """qname of every dga finding of a replay of pcap."""
    proc = subprocess.run(
        [binary, "--standalone", "--config", config, "--replay", pcap],
        capture_output=True, text=True, check=True,
        env=dict(os.environ, UGALLU_DATA_DIR="data"))
    out = set()
    for line in proc.stdout.splitlines():
        spec = json.loads(line)["spec"]
        if spec["type"] == "DNSDomainGenerationAlgorithm":
            out.add(spec["signals"]["qname"])
    return out


def measure(binary, per_family, seed, min_length, min_entropy):
    """{"families": {name: (kind, flagged, total)}, "hosts" and "words":
    (flagged, total) of the benign names, "noise": (flagged, total) of
    the benign NXDOMAIN noise, and the benign names flagged."""
    rng = random.Random(seed)
    traffic = Traffic()
    gen = dga_families.generate(per_family, seed)
    for i, (family, names) in enumerate(sorted(gen.items())):
        infected(traffic, rng, i, names)
    good = held_out()
    noise = benign(traffic, rng, [n for _, n in good])
    with tempfile.TemporaryDirectory() as tmp:
        pcap, config = os.path.join(tmp, "s.pcap"), os.path.join(tmp, "c")
        traffic.write(pcap)
        with open(config, "w", encoding="ascii") as f:
            f.write(dga_accuracy.CONFIG % (min_length, min_entropy))
        hits = flagged_names(binary, config, pcap)
    families = {}
    for family, names in sorted(gen.items()):
        kind = dga_families.FAMILIES[family][1]
        families[family] = (kind, sum(n in hits for n in names), len(names))
    hosts = [n for source, n in good if source != "words"]
    words = [n for source, n in good if source == "words"]
    return {"families": families,
            "hosts": (sum(n in hits for n in hosts), len(hosts)),
            "words": (sum(n in hits for n in words), len(words)),
            "benign_flagged": sorted(n for _, n in good if n in hits),
            "noise": (sum(n in hits for n in noise), len(noise)),
            "noise_flagged": sorted(n for n in noise if n in hits)}


def pct(pair):
    return 100.0 * pair[0] / max(pair[1], 1)


def report(result, min_length, min_entropy):
    print("dga accuracy in sessions (names and answers replayed): "
          "minLength %d, minEntropy %s, sessions of %d names"
          % (min_length, min_entropy, SESSION))
    print("%-14s %-10s %6s %8s" % ("family", "kind", "names", "flagged"))
    flagged = total = 0
    for family, (kind, k, n) in result["families"].items():
        print("%-14s %-10s %6d %7.1f%%" % (family, kind, n, pct((k, n))))
        if kind == "random":
            flagged, total = flagged + k, total + n
    for source in ("hosts", "words"):
        print("%-14s %-10s %6d %7.2f%%" % ("benign", source,
                                            result[source][1],
                                            pct(result[source])))
    if result["benign_flagged"]:
        print("    flagged: " + " ".join(result["benign_flagged"][:10]))
    print("%-14s %-10s %6d %7.2f%%" % ("benign", "nxdomain",
                                        result["noise"][1],
                                        pct(result["noise"])))
    if result["noise_flagged"]:
        print("    flagged: " + " ".join(result["noise_flagged"][:10]))
    print("non-dictionary families in sessions: %.1f%% of %d names "
          "flagged; benign host names %.2f%% of %d (target >= 95%% at "
          "<= 0.5%%)" % (pct((flagged, total)), total, pct(result["hosts"]),
                         result["hosts"][1]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--per-family", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--min-length", type=int, default=6)
    ap.add_argument("--min-entropy", default="2.5")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    result = measure(args.binary, args.per_family, args.seed,
                     args.min_length, args.min_entropy)
    if args.json:
        json.dump(result, sys.stdout)
        print()
    else:
        report(result, args.min_length, args.min_entropy)


if __name__ == "__main__":
    main()
