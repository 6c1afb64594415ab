#!/usr/bin/python3
"""Summarise SecurityEvent JSON lines: one row per (type, client).

A finding whose repeats were merged is written twice under one name (at
first sight, then with its mergedCount); the last line per name counts.
"""
import collections
import json
import sys


def evidence(sig):
    return (sig.get("entry") and "entry " + sig["entry"]) or \
        sig.get("qname") or sig.get("server") or ""


def main(path):
    latest = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                obj = json.loads(line)
                latest[obj["metadata"]["name"]] = obj
    groups = collections.OrderedDict()
    for obj in latest.values():
        spec = obj["spec"]
        key = (spec["severity"], spec["type"], spec["subject"]["name"])
        g = groups.setdefault(key, {"n": 0, "seen": 0, "example": ""})
        g["n"] += 1
        g["seen"] += 1 + int(spec["signals"].get("mergedCount", "0"))
        g["example"] = g["example"] or evidence(spec["signals"])
    if not groups:
        print("no findings")
        return
    print(f"{'SEVERITY':8}  {'TYPE':29} {'CLIENT':12} {'EVENTS':>6} "
          f"{'QUERIES':>7}  EXAMPLE")
    for (sev, typ, who), g in groups.items():
        example = g["example"]
        if len(example) > 48:
            example = example[:45] + "..."
        print(f"{sev:8}  {typ:29} {who:12} {g['n']:>6} {g['seen']:>7}  "
              f"{example}")
    print(f"{len(latest)} SecurityEvents")


if __name__ == "__main__":
    main(sys.argv[1])
