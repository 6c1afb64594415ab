#!/usr/bin/python3
"""Print SecurityEvent JSON lines as a short table, one finding a row."""
import json
import sys


def row(obj):
    spec = obj["spec"]
    sig = spec.get("signals", {})
    what = sig.get("qname") or sig.get("parent") or sig.get("server") or ""
    return (spec["severity"], spec["type"], spec["subject"]["name"], what,
            sig.get("mergedCount", "0"))


def main(path):
    with open(path, encoding="utf-8") as f:
        rows = [row(json.loads(line)) for line in f if line.strip()]
    if not rows:
        print("no findings")
        return
    print(f"{'SEVERITY':8}  {'TYPE':30}  {'CLIENT':15}  {'MERGED':>6}  "
          "EVIDENCE")
    for sev, typ, who, what, merged in rows:
        print(f"{sev:8}  {typ:30}  {who:15}  {merged:>6}  {what}")
    print(f"{len(rows)} findings")


if __name__ == "__main__":
    main(sys.argv[1])
