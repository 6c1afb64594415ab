#!/usr/bin/env python3
"""Tunneling quick check on the bundled sample: replay
data/sample/sample.dnstap through the real binary with only the
tunneling and exfiltration detectors on, and print

  - the findings per client, type and reason;
  - for the dns2tcp session (client queries under tunnel.example-c2.test)
    how many of its queries had been seen when the first DNSTunneling
    finding of that client arrived (the target is within 50);
  - the findings raised on the clients of the benign phases (should be
    none).

Figures only; tests/system/test_tunnel_accuracy.py asserts the same
things against a live dns2tcp session and a benign capture.

Usage: scripts/accuracy/tunnel_sample.py BINARY   (from the repository)
"""

import collections
import csv
import json
import os
import subprocess
import sys
import tempfile

SAMPLE = "data/sample/sample.dnstap"
TIMELINE = "data/sample/timeline.tsv"
ZONE = "tunnel.example-c2.test"
CONFIG = """apiVersion: security.ugallu.io/v1alpha1
kind: DNSDetectConfig
metadata: { name: tunnel-accuracy, namespace: ugallu-system }
spec:
  detectors:
    blocklist: { enabled: false }
    dga: { enabled: false }
    slowQuery: { enabled: false }
    tunneling: { enabled: true }
    exfiltration: { enabled: true }
    doh: { enabled: false }
    dot: { enabled: false }
    youngDomain: { enabled: false }
    anomalousPort: { enabled: false }
"""


def replay(binary, workdir):
    cfg = os.path.join(workdir, "config.yaml")
    events = os.path.join(workdir, "events.jsonl")
    with open(cfg, "w", encoding="ascii") as f:
        f.write(CONFIG)
    out = subprocess.run([binary, "--standalone", "--config", cfg,
                          "--replay", SAMPLE, "--events-out", events],
                         capture_output=True, text=True, check=True,
                         env=dict(os.environ, UGALLU_DATA_DIR="data"))
    findings = [json.loads(line) for line in out.stdout.splitlines()]
    with open(events, encoding="utf-8") as f:
        evs = [json.loads(line) for line in f]
    return findings, evs


def under(qname, zone):
    return qname == zone or qname.endswith("." + zone)


def queries_before(evs, client, zone, when):
    """Client queries of client under zone at or before time when."""
    return sum(1 for e in evs
               if e.get("kind") == "dns" and e.get("role") == "client" and
               e.get("client") == client and under(e["qname"], zone) and
               e["time"] <= when)


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else "build/ugallu-dns-detect"
    with tempfile.TemporaryDirectory() as work:
        findings, evs = replay(binary, work)
    rows = collections.Counter()
    first = {}
    for f in findings:
        spec = f["spec"]
        client = spec["subject"]["name"]
        rows[(client, spec["type"], spec["signals"].get("reason", "-"))] \
            += 1
        key = (client, spec["type"], spec["signals"].get("parent"))
        first.setdefault(key, spec["detectedAt"])
    for (client, kind, reason), n in sorted(rows.items()):
        print("client=%-12s type=%-16s reason=%-18s findings=%d"
              % (client, kind, reason, n))

    tunnel_clients = {e["client"] for e in evs
                      if e.get("role") == "client" and
                      under(e.get("qname", ""), ZONE)}
    for client in sorted(tunnel_clients):
        total = queries_before(evs, client, ZONE, "9999")
        when = first.get((client, "DNSTunneling", "example-c2.test"))
        seen = queries_before(evs, client, ZONE, when) if when else None
        print("dns2tcp session from %s: %d queries; first DNSTunneling "
              "after %s of them (target <= 50)"
              % (client, total, seen if seen is not None else "none"))

    with open(TIMELINE, encoding="utf-8") as f:
        phases = list(csv.reader(f, delimiter="\t"))
    benign = {p[3] for p in phases if p[0].startswith("benign") or
              p[0] in ("k8s", "ptr", "ipv6")}
    noisy = sum(n for (c, _, _), n in rows.items() if c in benign)
    print("benign clients %s: %d tunneling/exfiltration findings"
          % (" ".join(sorted(benign)), noisy))


if __name__ == "__main__":
    main()
