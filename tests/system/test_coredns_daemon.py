"""The daemon on the coredns-ugallu source, end to end.

Real CoreDNS with the ugallu plugin (built by scripts/coredns/build.sh)
serves example.com on a test port; the daemon subscribes with
--coredns-endpoint and the plugin's token; dig queries become events of source coredns-ugallu, with
both sides of the exchange, and a blocklisted name becomes a
SecurityEvent naming the querying client.
"""

import os

import servers
from test_coredns_source import CoreDNS, coredns_dir, dig_from, free_ports

__all__ = ["coredns_dir"]  # the fixture, imported for pytest


def test_daemon_detects_on_coredns_stream(coredns_dir, daemon_bin, workdir,
                                          procs):
    dns_port, grpc_port = free_ports(2)
    cd = CoreDNS(coredns_dir, workdir, dns_port, grpc_port)
    procs.append(cd)
    cd.start()

    os.makedirs(os.path.join(workdir, "d"), exist_ok=True)
    blocklist = os.path.join(workdir, "d", "blocklist.txt")
    with open(blocklist, "w") as f:
        f.write("bad.example.com\n")
    config = servers.write_config(
        os.path.join(workdir, "d"), mode="coredns-ugallu",
        detectors="    blocklist:\n      enabled: true\n"
                  "      files: [ %s ]\n" % blocklist)
    d = servers.Daemon(workdir, ("coredns", "127.0.0.1:%d" % grpc_port,
                                 cd.token_path), config=config, name="d")
    procs.append(d)
    d.start()
    up = ("ugallu_dns_source_connected",
          frozenset({("source", "coredns-ugallu")}))
    servers.wait_for(lambda: d.metrics().get(up) == 1, 15,
                     "the daemon's stream to CoreDNS")

    good = dig_from(dns_port, "www.example.com.")
    bad = dig_from(dns_port, "bad.example.com.")
    assert good[2] == "NOERROR" and bad[2] == "NXDOMAIN"
    servers.wait_for(lambda: len(d.findings()) >= 1, 10, "a finding")
    rc, summary = d.terminate()
    assert rc == 0, d.log_tail()

    events = {e["qname"]: e for e in d.events()}
    assert set(events) == {"www.example.com", "bad.example.com"}
    for (sport, msg_id, _), name in ((good, "www.example.com"),
                                     (bad, "bad.example.com")):
        ev = events[name]
        assert ev["source"] == "coredns-ugallu"
        assert ev["has_query"] and ev["has_response"]
        assert ev["client"] == "127.0.0.1" and ev["client_port"] == sport
        assert ev["id"] == msg_id and ev["latency_ms"] is not None
    assert events["bad.example.com"]["rcode"] == "NXDOMAIN"

    # CoreDNS answers on a test port, not 53: that is anomalousPort's
    # finding, once for the client (both queries merge into it).
    findings = {f["spec"]["type"]: f for f in d.findings()}
    assert set(findings) == {"DNSToBlocklistedFQDN", "DNSAnomalousPort"}
    assert findings["DNSAnomalousPort"]["spec"]["signals"]["server_port"] \
        == str(dns_port)
    spec = findings["DNSToBlocklistedFQDN"]["spec"]
    assert spec["signals"]["qname"] == "bad.example.com"
    assert spec["subject"]["name"] == "127.0.0.1"
    assert summary["events"] == 2 and summary["dropped"] == 0
