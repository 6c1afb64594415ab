"""The daemon on the tetragon source, end to end.

The Tetragon stand-in (tests/tetragon/peer, built from Tetragon's Go API
module) streams kprobe events; the daemon follows it with
--tetragon-socket.  Queries decoded from the send buffers meet the
detectors (a blocklisted name is raised, attributed to the client's pod
from Tetragon's own pod fields), the DoT send is a flow for the dot
detector, and slowQuery, which needs the answers Tetragon never sees, is reported once
as DNSDetectorDegraded instead of silently never firing.
"""

import os

import servers
from test_tetragon_source import peer_bin, start_peer

__all__ = ["peer_bin"]  # the fixture, imported for pytest


def test_daemon_on_tetragon(peer_bin, daemon_bin, workdir, procs):
    sock = os.path.join(workdir, "tetragon.sock")
    start_peer(peer_bin, workdir, procs, sock)

    os.makedirs(os.path.join(workdir, "d"), exist_ok=True)
    blocklist = os.path.join(workdir, "d", "blocklist.txt")
    with open(blocklist, "w") as f:
        f.write("example.com\n")
    config = servers.write_config(
        os.path.join(workdir, "d"), mode="tetragon",
        detectors="    blocklist:\n      enabled: true\n"
                  "      files: [ %s ]\n"
                  "      defaultAllowlist: false\n"
                  "    slowQuery: { enabled: true }\n"
                  "    dot: { enabled: true }\n" % blocklist)
    d = servers.Daemon(workdir, ("tetragon", sock), config=config, name="d")
    procs.append(d)
    d.start()

    def types():
        return {f["spec"]["type"] for f in d.findings()}

    # Queries without an answer leave the transaction table after its
    # hold time (5 s), then meet the detectors.
    servers.wait_for(lambda: "DNSToBlocklistedFQDN" in types(), 20,
                     "the blocklist finding")
    rc, summary = d.terminate()
    assert rc == 0, d.log_tail()

    by_type = {}
    for f in d.findings():
        by_type.setdefault(f["spec"]["type"], []).append(f["spec"])
    degraded = by_type["DNSDetectorDegraded"]
    assert len(degraded) == 1
    assert degraded[0]["class"] == "Anomaly"
    assert degraded[0]["signals"]["reason"] == "slowQuery"

    blocked = by_type["DNSToBlocklistedFQDN"][0]
    assert blocked["signals"]["qname"] == "example.com"
    assert blocked["subject"] == {"kind": "Pod", "name": "web-7d9f4c-x2kq",
                                  "namespace": "shop"}

    dot = by_type["DNSOverTLSBypass"][0]
    assert dot["signals"]["server"] == "1.1.1.1"

    events = d.events()
    assert {e["source"] for e in events} == {"tetragon"}
    names = {e.get("qname") for e in events if e["kind"] == "dns"}
    assert names == {"example.com", "api.stripe.com"}
    assert sum(1 for e in events if e["kind"] == "flow") == 2
    assert summary["malformed"] == 0 and summary["dropped"] == 0


def flows_only_fixture(path):
    """The recorded sends as the shipped TracingPolicy gives them: no
    bytes argument, so no query name; the plain UDP send three times."""
    from test_tetragon_source import FIXTURE
    import json
    out = []
    with open(FIXTURE) as f:
        for line in f:
            if not line.startswith("{"):
                continue
            msg = json.loads(line)
            kp = msg.get("process_kprobe")
            if kp is None:
                out.append(msg)
                continue
            kp["args"] = [a for a in kp["args"] if "bytes_arg" not in a]
            copies = 3 if kp["function_name"] == "udp_sendmsg" else 1
            out += [msg] * copies
    with open(path, "w") as f:
        f.write("".join(json.dumps(m) + "\n" for m in out))
    return path


def test_degraded_without_names(peer_bin, daemon_bin, workdir, procs):
    """With the shipped policy every send is a flow: the detectors that
    judge names are reported degraded, each once, besides slowQuery."""
    sock = os.path.join(workdir, "tetragon.sock")
    fixture = flows_only_fixture(os.path.join(workdir, "flows.jsonl"))
    p = servers.Process("peer", [peer_bin, "-socket", sock, "-fixture",
                                 fixture], workdir)
    procs.append(p.start())
    servers.wait_for(lambda: "READY" in p.out_text(), 20, "the peer")

    os.makedirs(os.path.join(workdir, "d"), exist_ok=True)
    config = servers.write_config(
        os.path.join(workdir, "d"), mode="tetragon",
        detectors="    blocklist: { enabled: true }\n"
                  "    dga: { enabled: true }\n"
                  "    tunneling: { enabled: true }\n"
                  "    exfiltration: { enabled: true }\n"
                  "    youngDomain: { enabled: false }\n"
                  "    slowQuery: { enabled: true }\n")
    d = servers.Daemon(workdir, ("tetragon", sock), config=config, name="d")
    procs.append(d)
    d.start()

    def degraded():
        return sorted(f["spec"]["signals"]["reason"] for f in d.findings()
                      if f["spec"]["type"] == "DNSDetectorDegraded")
    want = ["blocklist", "dga", "exfiltration", "slowQuery", "tunneling"]
    servers.wait_for(lambda: degraded() == want, 15,
                     "DNSDetectorDegraded for each detector that judges "
                     "names or answers")
    rc, summary = d.terminate()
    assert rc == 0, d.log_tail()
    assert degraded() == want   # once each: youngDomain is off
    assert all(e["kind"] == "flow" for e in d.events())
