"""The coredns-ugallu source against real CoreDNS with the ugallu plugin.

CoreDNS is built with the plugin by scripts/coredns/build.sh (cached;
skipped when Go or the module proxy is missing) and serves the example
zones on loopback.  The C client runs inside tests/coredns/corednssrc_cli,
which prints every event as a JSON line and its counters on stderr.  The
plugin's own Go test subscriber, on the same stream, is the reference.

Covered: dig queries arrive with the right fields (and agree with the
Go subscriber); a wrong token is refused and logged once, and a corrected
token file is picked up at the next dial; CoreDNS killed and restarted is
re-dialled with backoff, logging the outage once; the endpoint set is
replaced at run time, one stream per endpoint.
"""

import json
import os
import re
import signal
import subprocess
import time

import pytest

import servers
from conftest import require

TOKEN = "s3cret-t0ken-for-tests"
NODE = "node-a"
FLAGS_BOTH = 0x0001 | 0x0002 | 0x0004 | 0x0040  # QUERY RESPONSE LATENCY
                                                # QUESTION


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def coredns_dir():
    """Directory holding the coredns and subscriber binaries."""
    require("go")
    script = os.path.join(servers.ROOT, "scripts", "coredns", "build.sh")
    r = subprocess.run([script], capture_output=True, text=True,
                       timeout=1800)
    if r.returncode == 3:
        pytest.skip("CoreDNS cannot be built here: " + r.stderr[-300:])
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout.strip().splitlines()[-1]


@pytest.fixture
def cli_bin(daemon_bin):
    """tests/coredns/corednssrc_cli of the daemon's build."""
    path = os.environ.get("UGALLU_COREDNS_CLI") or os.path.join(
        os.path.dirname(os.path.abspath(daemon_bin)), "tests",
        "corednssrc_cli")
    if not os.access(path, os.X_OK):
        pytest.skip("corednssrc_cli not built: " + path)
    return path


class CoreDNS(servers.Process):
    """CoreDNS serving example.com. with the ugallu plugin."""

    def __init__(self, binary, workdir, dns_port, grpc_port, name="coredns",
                 tls=None):
        self.dns_port = dns_port
        self.grpc_port = grpc_port
        self.token_path = os.path.join(workdir, "plugin-token")
        zone = os.path.join(workdir, "example.com.zone")
        conf = os.path.join(workdir, name + ".Corefile")
        with open(zone, "w") as f:
            f.write(servers.zone_text("example.com.",
                                      servers.ZONES["example.com."]))
        with open(self.token_path, "w") as f:
            f.write(TOKEN + "\n")
        tls_line = "  tls %s %s\n" % tls if tls else ""
        with open(conf, "w") as f:
            f.write("example.com.:%d {\n bind 127.0.0.1\n"
                    " ugallu {\n  listen 127.0.0.1:%d\n  token_file %s\n"
                    "%s }\n file %s\n}\n" % (dns_port, grpc_port,
                                             self.token_path, tls_line,
                                             zone))
        super().__init__(name, [os.path.join(binary, "coredns"), "-conf",
                                conf], workdir)

    def start(self):
        super().start()
        servers.wait_for(lambda: self.check_alive() is None and
                         servers.dns_answers("127.0.0.1", self.dns_port,
                                             "example.com.") and
                         not servers.port_free("127.0.0.1", self.grpc_port),
                         20, "CoreDNS on port %d" % self.dns_port)
        return self


class Client(servers.Process):
    """The C client under test, through corednssrc_cli."""

    def __init__(self, cli, workdir, endpoints, token_file, name="client",
                 extra=()):
        argv = [cli, "--token-file", token_file, "--node", NODE,
                "--unplaced", "--stats-ms", "200", "--log-level", "debug"]
        for e in endpoints:
            argv += ["--endpoint", e]
        super().__init__(name, argv + list(extra), workdir)

    def events(self):
        return [json.loads(line) for line in self.out_text().splitlines()
                if line.startswith("{")]

    def stats(self):
        """The last counters line, or None."""
        last = None
        for line in self.log_text().splitlines():
            if line.startswith('{"stats"'):
                last = json.loads(line)["stats"]
        return last

    def stat(self, key):
        s = self.stats()
        return s[key] if s else 0

    def log_lines(self, msg, level=None):
        want = 'msg="%s"' % msg
        return [line for line in self.log_text().splitlines()
                if want in line and (level is None or
                                     "level=%s " % level in line)]


def make_named_cert(directory, name):
    """A self-signed certificate for DNS name; returns (cert, key)."""
    require("openssl")
    cert = os.path.join(directory, name + ".crt")
    key = os.path.join(directory, name + ".key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                    "-nodes", "-days", "2", "-subj", "/CN=" + name,
                    "-addext", "subjectAltName=DNS:" + name,
                    "-keyout", key, "-out", cert],
                   check=True, capture_output=True)
    return cert, key


def free_ports(n):
    ports = []
    while len(ports) < n:
        p = servers.free_port()
        if p not in ports:
            ports.append(p)
    return ports


def dig_from(server_port, name, qtype="A", tcp=False):
    """dig from a chosen source port; returns (port, message id)."""
    sport = servers.free_port()
    out = servers.dig("127.0.0.1", server_port, name, qtype, tcp=tcp,
                      extra=["-b", "127.0.0.1#%d" % sport])
    m = re.search(r"status: (\w+), id: (\d+)", out)
    assert m, out
    return sport, int(m.group(2)), m.group(1)


def wait_events(client, n, timeout=10):
    servers.wait_for(lambda: len(client.events()) >= n, timeout,
                     "%d events" % n)
    return client.events()


# ------------------------------------------------------------------ tests

def test_queries_arrive(coredns_dir, cli_bin, workdir, procs):
    dns_port, grpc_port = free_ports(2)
    cd = CoreDNS(coredns_dir, workdir, dns_port, grpc_port)
    procs.append(cd)
    cd.start()
    c = Client(cli_bin, workdir, ["127.0.0.1:%d" % grpc_port],
               cd.token_path)
    procs.append(c)
    c.start()
    ref = servers.Process("subscriber", [
        os.path.join(coredns_dir, "subscriber"), "-addr",
        "127.0.0.1:%d" % grpc_port, "-node", "other-node", "-token-file",
        cd.token_path, "-unplaced"], workdir)
    procs.append(ref)
    ref.start()
    servers.wait_for(lambda: c.stat("streams_up") == 1, 15, "stream up")
    servers.wait_for(lambda: "subscribed" in ref.log_text(), 15,
                     "reference subscriber")

    t0 = time.time_ns()
    queries = [
        ("www.example.com.", "A", False, "NOERROR", 1, ["192.0.2.11"]),
        ("WWW.Example.COM.", "AAAA", True, "NOERROR", 1, ["2001:db8::11"]),
        ("alias.example.com.", "A", False, "NOERROR", 2, None),
        ("nope.example.com.", "A", False, "NXDOMAIN", 0, []),
        ("example.com.", "MX", True, "NOERROR", 1, None),
    ]
    sent = []
    for name, qtype, tcp, _, _, _ in queries:
        sent.append(dig_from(dns_port, name, qtype, tcp))
    t1 = time.time_ns()
    evs = wait_events(c, len(queries))
    assert len(evs) == len(queries)

    for q, s, ev in zip(queries, sent, evs):
        name, qtype, tcp, rcode, ancount, addrs = q
        sport, msg_id, status = s
        assert status == rcode
        assert ev["source"] == "coredns-ugallu"
        assert ev["role"] == "client"
        assert ev["qname"] == name.lower().rstrip(".")
        assert ev["qtype"] == qtype and ev["qclass"] == "IN"
        assert ev["rcode"] == rcode
        assert ev["transport"] == ("tcp" if tcp else "udp")
        assert ev["client"] == "127.0.0.1" and ev["client_port"] == sport
        assert ev["server"] == "127.0.0.1" and ev["server_port"] == dns_port
        assert ev["id"] == msg_id
        assert ev["ancount"] == ancount
        assert ev["flags"] & FLAGS_BOTH == FLAGS_BOTH
        assert t0 - 10**9 <= ev["time_ns"] <= t1
        assert 0 < ev["latency_ns"] < 10**9
        assert ev["query_size"] > 12 and ev["response_size"] > 12
        assert ev["dns_flags"] & 0x8000  # QR of the response
        if addrs is not None:
            assert [a["data"] for a in ev["answers"]] == addrs
    alias = evs[2]["answers"]
    assert [a["type"] for a in alias] == ["CNAME", "A"]

    # The plugin's own Go subscriber saw the same exchanges.
    servers.wait_for(lambda: len(ref.out_text().splitlines()) >= 5, 10,
                     "reference events")
    want = [json.loads(line) for line in ref.out_text().splitlines()]
    assert [(e["id"], e["src_port"], e["qname"].lower().rstrip("."),
             e["latency"], e["timestamp"]) for e in want] == \
           [(e["id"], e["client_port"], e["qname"], e["latency_ns"],
             e["time_ns"]) for e in evs]
    assert c.stop() == 0
    assert c.stats()["events"] == len(queries)
    assert c.stats()["malformed"] == 0


def test_wrong_token_then_fixed(coredns_dir, cli_bin, workdir, procs):
    dns_port, grpc_port = free_ports(2)
    cd = CoreDNS(coredns_dir, workdir, dns_port, grpc_port)
    procs.append(cd)
    cd.start()
    token = os.path.join(workdir, "client-token")
    with open(token, "w") as f:
        f.write("not-the-token\n")
    c = Client(cli_bin, workdir, ["127.0.0.1:%d" % grpc_port], token)
    procs.append(c)
    c.start()

    servers.wait_for(lambda: c.stat("auth_failures") >= 3, 20,
                     "three refused dials")
    assert c.stat("streams_up") == 0 and c.stat("connects") == 0
    warns = c.log_lines("coredns refused the token", "warn")
    assert len(warns) == 1, c.log_text()
    assert len(c.log_lines("coredns refused the token")) >= 3

    # The Secret is fixed: the next dial reads the file again.
    with open(token, "w") as f:
        f.write(TOKEN + "\n")
    servers.wait_for(lambda: c.stat("streams_up") == 1, 40, "stream up")
    dig_from(dns_port, "www.example.com.")
    evs = wait_events(c, 1)
    assert evs[0]["qname"] == "www.example.com"
    assert len(c.log_lines("coredns refused the token", "warn")) == 1
    assert c.stop() == 0


def test_restart_reconnects_with_backoff(coredns_dir, cli_bin, workdir,
                                         procs):
    dns_port, grpc_port = free_ports(2)
    cd = CoreDNS(coredns_dir, workdir, dns_port, grpc_port)
    procs.append(cd)
    cd.start()
    c = Client(cli_bin, workdir, ["127.0.0.1:%d" % grpc_port],
               cd.token_path)
    procs.append(c)
    c.start()
    servers.wait_for(lambda: c.stat("streams_up") == 1, 15, "stream up")
    dig_from(dns_port, "www.example.com.")
    wait_events(c, 1)

    cd.stop(signal.SIGKILL)
    servers.wait_for(lambda: c.stat("streams_up") == 0, 15, "stream down")
    down_at = time.monotonic()
    time.sleep(6)
    tries = c.stat("reconnects")
    # Backoff: ceilings 0.5, 1, 2, 4 s with full jitter give about five
    # dials in six seconds; a client without backoff would make hundreds.
    assert 2 <= tries <= 15, c.stats()
    downs = c.log_lines("coredns stream down", "warn")
    assert len(downs) == 1, c.log_text()

    cd2 = CoreDNS(coredns_dir, workdir, dns_port, grpc_port, "coredns2")
    procs.append(cd2)
    cd2.start()
    servers.wait_for(lambda: c.stat("streams_up") == 1, 40, "reconnect")
    assert time.monotonic() - down_at < 46
    assert c.stat("connects") == 2
    # The restarted CoreDNS's own readiness probe (example.com SOA) may
    # be streamed too when the redial lands first: look for ours by name.
    dig_from(dns_port, "mail.example.com.")
    servers.wait_for(lambda: "mail.example.com" in
                     {e["qname"] for e in c.events()}, 10,
                     "the query after the reconnect")
    assert c.stop() == 0


def test_endpoint_set_replaced(coredns_dir, cli_bin, workdir, procs):
    dns_a, grpc_a, dns_b, grpc_b = free_ports(4)
    a = CoreDNS(coredns_dir, workdir, dns_a, grpc_a, "coredns-a")
    b = CoreDNS(coredns_dir, workdir, dns_b, grpc_b, "coredns-b")
    procs += [a, b]
    a.start()
    b.start()
    ep_a, ep_b = "127.0.0.1:%d" % grpc_a, "127.0.0.1:%d" % grpc_b
    listing = os.path.join(workdir, "endpoints")
    c = Client(cli_bin, workdir, [ep_a], a.token_path,
               extra=["--endpoints-file", listing])
    procs.append(c)
    c.start()
    servers.wait_for(lambda: c.stat("streams_up") == 1, 15, "stream a")
    serial_a = c.stats()["endpoints"][0]["serial"]

    with open(listing, "w") as f:
        f.write("%s\n%s\n" % (ep_a, ep_b))
    os.kill(c.pid, signal.SIGHUP)
    servers.wait_for(lambda: c.stat("streams_up") == 2, 15, "streams a+b")
    eps = c.stats()["endpoints"]
    assert [e["target"] for e in eps] == [ep_a, ep_b]
    assert eps[0]["serial"] == serial_a       # a's stream was kept
    assert c.stat("connects") == 2

    dig_from(dns_a, "www.example.com.")
    dig_from(dns_b, "mail.example.com.")
    evs = wait_events(c, 2)
    assert sorted((e["server_port"], e["qname"]) for e in evs) == sorted(
        [(dns_a, "www.example.com"), (dns_b, "mail.example.com")])

    with open(listing, "w") as f:
        f.write(ep_b + "\n")
    os.kill(c.pid, signal.SIGHUP)
    servers.wait_for(lambda: [e["target"] for e in
                              c.stats()["endpoints"]] == [ep_b], 15,
                     "only b")
    assert c.stat("streams_up") == 1
    dig_from(dns_a, "example.com.")            # a is no longer followed
    dig_from(dns_b, "example.com.")
    evs = wait_events(c, 3)
    time.sleep(0.5)
    assert len(c.events()) == 3
    assert c.events()[2]["server_port"] == dns_b
    assert c.stop() == 0


def test_tls(coredns_dir, cli_bin, workdir, procs):
    cert, key = make_named_cert(workdir, "coredns.test")
    other, _ = make_named_cert(workdir, "other.test")
    dns_port, grpc_port = free_ports(2)
    cd = CoreDNS(coredns_dir, workdir, dns_port, grpc_port, tls=(cert, key))
    procs.append(cd)
    cd.start()
    ep = "127.0.0.1:%d" % grpc_port
    good = Client(cli_bin, workdir, [ep], cd.token_path, name="good",
                  extra=["--tls", "--ca", cert, "--server-name",
                         "coredns.test"])
    bad = Client(cli_bin, workdir, [ep], cd.token_path, name="bad",
                 extra=["--tls", "--ca", other, "--server-name",
                        "coredns.test"])
    procs += [good, bad]
    good.start()
    bad.start()
    servers.wait_for(lambda: good.stat("streams_up") == 1, 15, "TLS up")
    dig_from(dns_port, "www.example.com.")
    assert wait_events(good, 1)[0]["qname"] == "www.example.com"

    # A server whose certificate the CA does not vouch for is never up.
    servers.wait_for(lambda: bad.stat("reconnects") >= 2, 15, "retries")
    assert bad.stat("connects") == 0 and bad.events() == []
    assert len(bad.log_lines("coredns stream down", "warn")) == 1
    assert good.stop() == 0 and bad.stop() == 0
