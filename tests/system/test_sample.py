"""The bundled sample capture (data/sample/, recorded by
scripts/record_sample.sh): the daemon decodes both forms like the
reference decoders do, and finds the malicious patterns the README says
are inside, from the clients the timeline names.
"""

import collections
import csv
import os

import refdecode as R
import servers as S
from conftest import require

SAMPLE = os.path.join(S.ROOT, "data", "sample")
DNSTAP = os.path.join(SAMPLE, "sample.dnstap")
PCAP = os.path.join(SAMPLE, "sample.pcap")
BLOCKLIST = os.path.join(SAMPLE, "blocklist.txt")
ALT_PORT = 5353

DETECTORS = """    blocklist:
      enabled: true
      files: [%s]
    dga:
      enabled: true
    tunneling:
      enabled: true
    exfiltration:
      enabled: true
    doh:
      enabled: true
    anomalousPort:
      enabled: true
""" % BLOCKLIST


def timeline():
    """{phase: client address} from timeline.tsv."""
    with open(os.path.join(SAMPLE, "timeline.tsv")) as f:
        return {row[0]: row[3] for row in csv.reader(f, delimiter="\t")}


def test_sample_files_are_small_and_present():
    for path in (DNSTAP, PCAP, BLOCKLIST):
        assert os.path.getsize(path) > 10000 or path == BLOCKLIST
        assert os.path.getsize(path) < 2 * 1024 * 1024, path
    phases = timeline()
    for phase in ("benign", "k8s", "doh", "blocklist", "dga",
                  "txt-burst", "tunnel", "alt-port"):
        assert phase in phases


def replay_checked(path, workdir, ref, name):
    """Replay with events; compare with the reference, return findings."""
    events_path = os.path.join(workdir, name + ".jsonl")
    config = S.write_config(workdir, detectors=DETECTORS,
                            name=name + ".yaml")
    proc, summary, findings = S.replay(path, events_out=events_path,
                                       config=config, workdir=workdir)
    assert proc.returncode == 0, proc.stderr[-2000:]
    sides = R.count_sides(ref)
    assert summary["messages"] == len(ref)
    assert summary["queries"] == sides["query"]
    assert summary["responses"] == sides["response"]
    assert summary["malformed"] == 0
    # A finding whose repeats were merged is written again when its
    # window closes (with the merged count), so there are at least as
    # many lines as distinct findings.
    assert len(findings) >= summary["findings"] > 0
    for f in findings:
        assert f["kind"] == "SecurityEvent" and f["spec"]["type"]

    events = S.read_jsonl(events_path)
    problem = R.diff(R.query_keys(ref), R.event_query_keys(events))
    assert not problem, "queries differ:\n" + problem
    problem = R.diff(R.response_keys(ref), R.event_response_keys(events))
    assert not problem, "responses differ:\n" + problem
    return findings


def by_type(findings):
    """{SecurityEvent type: set of subject names}."""
    out = {}
    for f in findings:
        spec = f.get("spec", {})
        out.setdefault(spec.get("type"), set()).add(
            spec.get("subject", {}).get("name"))
    return out


def check_findings(findings, form):
    """The patterns the README promises, each from its phase's client."""
    clients = timeline()
    types = by_type(findings)

    def mine(phase, names):
        want = clients[phase]
        return any(n in (want, "ip-" + want) for n in names)

    def fired(ftype, phase):
        names = types.get(ftype, set())
        assert mine(phase, names), "%s: no %s for the %s client (got %r)" \
            % (form, ftype, phase, sorted(n or "" for n in names))

    fired("DNSToBlocklistedFQDN", "blocklist")
    fired("DNSDomainGenerationAlgorithm", "dga")
    fired("DNSTunneling", "tunnel")
    fired("DNSTunneling", "txt-burst")
    fired("DNSOverHTTPSBypass", "doh")
    fired("DNSAnomalousPort", "alt-port")
    assert not mine("k8s", types.get("DNSToBlocklistedFQDN", set()))


def test_sample_dnstap(daemon_bin, workdir):
    require("dnstap")
    ref = R.go_dnstap_messages(DNSTAP)
    assert len(ref) > 3000
    assert {("client", "query"), ("resolver", "query")} <= \
        set(R.count_types(ref))
    findings = replay_checked(DNSTAP, workdir, ref, "dnstap")
    check_findings(findings, "dnstap")


def test_sample_pcap(daemon_bin, workdir):
    require("tshark")
    from test_pcap import qtype_names
    ref = R.tshark_messages(PCAP, dns_ports=(53, ALT_PORT),
                            qtype_names=qtype_names())
    assert len(ref) > 3000
    findings = replay_checked(PCAP, workdir, ref, "pcap")
    check_findings(findings, "pcap")


def test_sample_forms_agree():
    """The two files record the same session: every client message of
    the dnstap form is on the wire, field for field (reference decoders
    only; this checks the sample, not the daemon)."""
    require("dnstap", "tshark")
    from test_pcap import qtype_names
    tap = [m for m in R.go_dnstap_messages(DNSTAP) if m.role == "client"]
    wire = [m for m in R.tshark_messages(PCAP, dns_ports=(53, ALT_PORT),
                                         qtype_names=qtype_names())
            if m.server in ("127.0.10.53", "::1")]

    def keys(msgs):
        return collections.Counter(
            (m.side, m.transport, m.client, m.client_port, m.server,
             m.server_port, m.id, m.qname, m.qtype, m.rcode) for m in msgs)
    assert not R.diff(keys(tap), keys(wire))
