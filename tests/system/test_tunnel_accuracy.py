"""Tunneling and exfiltration against real tunnels and a benign capture.

- dns2tcp: dns2tcpd is authoritative for a tunnel zone that Unbound
  reaches by a stub zone; dns2tcpc carries a TCP connection to an echo
  server through Unbound (on port 53 of a 127/8 address, as dns2tcpc
  cannot use another port).  Unbound's dnstap is recorded and replayed
  through the daemon: a DNSTunneling finding for the tunnel's client must
  arrive within its first 50 queries under the tunnel zone.
- iodine, the same way, where /dev/net/tun exists and iodine is
  installed (both ends need a tun device).
- benign: a dnstap capture built here of several hundred names that
  look random or busy by design (CDN and cloud hashes, Kubernetes pod and
  service names, reverse DNS, ACME and DKIM TXT, punycode), repeated from
  a few clients: no DNSTunneling or DNSExfiltration finding at all.
"""

import os
import random
import socket
import threading
import time

import pytest

import dnstap_wire
import servers
from conftest import require, require_root

RESOLVER = "127.0.31.53"
TUNNEL_NS = "127.0.31.54"
TUNNEL_ZONE = "tunnel.example-c2.test"
FIRST_QUERIES = 50
CONFIG = """apiVersion: security.ugallu.io/v1alpha1
kind: DNSDetectConfig
metadata: { name: tunnel-accuracy }
spec:
  detectors:
    blocklist: { enabled: false }
    dga: { enabled: false }
    slowQuery: { enabled: false }
    tunneling: { enabled: true }
    exfiltration: { enabled: true }
    doh: { enabled: false }
    dot: { enabled: false }
    anomalousPort: { enabled: false }
"""


def write_config(workdir):
    path = os.path.join(workdir, "tunnel-config.yaml")
    with open(path, "w") as f:
        f.write(CONFIG)
    return path


def under(qname, zone):
    return qname == zone or qname.endswith("." + zone)


def queries_to_first_finding(events, findings, zone):
    """(client, tunnel queries of that client up to its first
    DNSTunneling finding, all its tunnel queries)."""
    queries = [e for e in events if e.get("kind") == "dns" and
               e.get("role") == "client" and under(e["qname"], zone)]
    assert queries, "no client query under %s in the events" % zone
    client = queries[0]["client"]
    mine = [e for e in queries if e["client"] == client]
    hits = sorted(f["spec"]["detectedAt"] for f in findings
                  if f["spec"]["type"] == "DNSTunneling" and
                  f["spec"]["subject"]["name"] == client)
    assert hits, "no DNSTunneling finding for %s (%d tunnel queries)" % (
        client, len(mine))
    return client, sum(1 for e in mine if e["time"] <= hits[0]), len(mine)


# ------------------------------------------------------------ the servers

def echo_server():
    """A TCP echo service on a free port, in a daemon thread."""
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(4)

    def serve():
        while True:
            conn, _ = lsock.accept()
            threading.Thread(target=echo, args=(conn,), daemon=True).start()

    def echo(conn):
        with conn:
            while True:
                data = conn.recv(4096)
                if not data:
                    return
                conn.sendall(data)

    threading.Thread(target=serve, daemon=True).start()
    return lsock.getsockname()[1]


def tunnel_resolver(workdir, procs, stub_port):
    """fstrm_capture, then Unbound on RESOLVER:53 with a stub zone for the
    tunnel zone at TUNNEL_NS:stub_port and dnstap to the capture."""
    if not servers.port_free(RESOLVER, 53):
        pytest.skip("%s:53 is in use" % RESOLVER)
    auth = servers.AuthServer(workdir)
    procs.append(auth)
    auth.start()
    sock = os.path.join(workdir, "dnstap.sock")
    cap = servers.FstrmCapture(workdir, os.path.join(workdir, "t.dnstap"),
                               socket_path=sock)
    procs.append(cap)
    cap.start()
    extra = ('    local-zone: "test." nodefault\n'
             '    domain-insecure: "%s"\n'
             'stub-zone:\n    name: "%s"\n    stub-addr: %s@%d\n'
             % (TUNNEL_ZONE, TUNNEL_ZONE, TUNNEL_NS, stub_port))
    ub = servers.Unbound(workdir, auth, dnstap=sock, log=("client",),
                         addrs=(RESOLVER,), port=53, extra=extra)
    procs.append(ub)
    ub.start()
    servers.wait_for(cap.connected, servers.START_TIMEOUT,
                     "unbound's dnstap")
    time.sleep(servers.DNSTAP_SETTLE)
    return ub, cap


def replay_tunnel(workdir, ub, cap):
    """Stop the resolver, replay its dnstap; (events, findings)."""
    time.sleep(servers.DNSTAP_SETTLE)
    ub.stop()
    path = cap.finish()
    events = os.path.join(workdir, "events.jsonl")
    proc, _, findings = servers.replay(path, events_out=events,
                                       config=write_config(workdir),
                                       workdir=workdir)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return servers.read_jsonl(events), findings


def test_dns2tcp_fires_within_50_queries(daemon_bin, workdir, procs):
    require_root()
    require("named", "unbound", "fstrm_capture", "dns2tcpd", "dns2tcpc")
    echo_port = echo_server()
    ns_port = servers.free_port(TUNNEL_NS)
    conf = os.path.join(workdir, "dns2tcpd.conf")
    with open(conf, "w") as f:
        f.write("listen = %s\nport = %d\ndomain = %s\nkey = k3y\n"
                "resources = echo:127.0.0.1:%d\n"
                % (TUNNEL_NS, ns_port, TUNNEL_ZONE, echo_port))
    ub, cap = tunnel_resolver(workdir, procs, ns_port)
    server = servers.Process("dns2tcpd", [servers.which("dns2tcpd"), "-F",
                                          "-f", conf], workdir)
    procs.append(server)
    server.start()
    servers.wait_for(lambda: not servers.port_free(TUNNEL_NS, ns_port),
                     servers.START_TIMEOUT, "dns2tcpd")
    local = servers.free_port()
    client = servers.Process("dns2tcpc", [
        servers.which("dns2tcpc"), "-z", TUNNEL_ZONE, "-k", "k3y", "-r",
        "echo", "-l", str(local), RESOLVER], workdir)
    procs.append(client)
    client.start()
    servers.wait_for(lambda: not servers.port_free("127.0.0.1", local),
                     servers.START_TIMEOUT, "dns2tcpc")

    data = random.Random(3).randbytes(4096)
    with socket.create_connection(("127.0.0.1", local), timeout=60) as s:
        s.sendall(data)
        got = b""
        while len(got) < len(data):
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
    assert got == data, "the tunnel did not carry the data"
    client.stop()

    events, findings = replay_tunnel(workdir, ub, cap)
    who, seen, total = queries_to_first_finding(events, findings,
                                                TUNNEL_ZONE)
    assert seen <= FIRST_QUERIES, (
        "first DNSTunneling for %s after %d of %d tunnel queries"
        % (who, seen, total))


def test_iodine_fires_within_50_queries(daemon_bin, workdir, procs):
    require_root()
    if not os.path.exists("/dev/net/tun"):
        pytest.skip("no /dev/net/tun: iodine needs a tun device")
    require("named", "unbound", "fstrm_capture", "iodined", "iodine")
    ns_port = servers.free_port(TUNNEL_NS)
    ub, cap = tunnel_resolver(workdir, procs, ns_port)
    server = servers.Process("iodined", [
        servers.which("iodined"), "-f", "-c", "-P", "t0psecret", "-l",
        TUNNEL_NS, "-p", str(ns_port), "10.231.0.1/24", TUNNEL_ZONE],
        workdir)
    procs.append(server)
    server.start()
    servers.wait_for(lambda: not servers.port_free(TUNNEL_NS, ns_port),
                     servers.START_TIMEOUT, "iodined")
    client = servers.Process("iodine", [
        servers.which("iodine"), "-f", "-r", "-P", "t0psecret", RESOLVER,
        TUNNEL_ZONE], workdir)
    procs.append(client)
    client.start()
    servers.wait_for(lambda: "Connection setup complete" in
                     client.log_text() + client.out_text(), 60,
                     "iodine to connect")
    time.sleep(3)
    client.stop()
    server.stop()

    events, findings = replay_tunnel(workdir, ub, cap)
    who, seen, total = queries_to_first_finding(events, findings,
                                                TUNNEL_ZONE)
    assert seen <= FIRST_QUERIES, (
        "first DNSTunneling for %s after %d of %d tunnel queries"
        % (who, seen, total))


# ------------------------------------------------------------ benign

def hexs(rng, n):
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def alnum(rng, n):
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789")
                   for _ in range(n))


def benign_names(rng):
    """(qname, qtype) of names that look random or busy by design."""
    names = []
    for _ in range(40):
        names.append(("d%s.cloudfront.net" % alnum(rng, 13), 1))
        names.append(("e%d.a.akamaiedge.net" % rng.randint(1, 9999), 1))
        names.append(("a%d.dscd.akamai.net" % rng.randint(1, 999), 1))
        names.append(("%s.global.ssl.fastly.net" % alnum(rng, 10), 1))
        names.append(("%s.azureedge.net" % alnum(rng, 16), 1))
        names.append(("%s-%s.googleusercontent.com"
                      % (hexs(rng, 12), alnum(rng, 20)), 1))
        names.append(("lh3.googleusercontent.com", 1))
    for _ in range(40):
        a, b, c, d = (rng.randint(1, 254) for _ in range(4))
        names.append(("ec2-%d-%d-%d-%d.compute-1.amazonaws.com"
                      % (a, b, c, d), 1))
        names.append(("ip-10-%d-%d-%d.ec2.internal" % (b, c, d), 1))
        names.append(("logs-%s.s3.amazonaws.com" % hexs(rng, 16), 1))
        names.append(("backup-%s.s3.eu-west-1.amazonaws.com"
                      % hexs(rng, 24), 1))
        names.append(("storage.googleapis.com", 1))
        names.append(("%s.blob.core.windows.net" % alnum(rng, 20), 1))
    for i in range(60):
        ip = "10-244-%d-%d" % (i % 4, rng.randint(2, 250))
        names.append(("%s.default.pod.cluster.local" % ip, 1))
        names.append(("%s.kube-system.pod.cluster.local" % ip, 1))
        names.append(("svc-%s.payments.svc.cluster.local"
                      % hexs(rng, 10), 1))
        names.append(("web-%s-%s.web.default.svc.cluster.local"
                      % (alnum(rng, 10), alnum(rng, 5)), 1))
        names.append(("_http._tcp.api.default.svc.cluster.local", 33))
    for _ in range(40):
        names.append(("%d.%d.%d.10.in-addr.arpa" % tuple(
            rng.randint(0, 255) for _ in range(3)), 12))
        nibbles = ".".join(rng.choice("0123456789abcdef")
                           for _ in range(32))
        names.append(("%s.ip6.arpa" % nibbles, 12))
    for i in range(30):
        dom = "shop%d.example.com" % i
        names.append(("_acme-challenge." + dom, 16))
        names.append(("_acme-challenge.www." + dom, 16))
        names.append(("s%s._domainkey.%s" % (hexs(rng, 8), dom), 16))
        names.append(("google._domainkey.mail%d.example.org" % i, 16))
        names.append(("selector1._domainkey.example%d.net" % i, 16))
    for word in ("xn--mnchen-3ya", "xn--bcher-kva", "xn--80ak6aa92e",
                 "xn--fiqs8s", "xn--wgbh1c", "xn--p1ai", "xn--e1afmkfd",
                 "xn--90ais", "xn--mgbaam7a8h", "xn--3e0b707e"):
        names.append(("www.%s.com" % word, 1))
        names.append(("%s.xn--p1ai" % word, 1))
        names.append(("xn--d1acufc.%s.xn--90ais" % word, 1))
    return names


def benign_capture(path, rng):
    """Queries and responses of the benign names from four clients, each
    name asked one to four times, over a few minutes of event time."""
    names = benign_names(rng)
    clients = ["10.244.1.%d" % i for i in (5, 6, 7, 8)]
    frames, when, mid = [], 1_700_000_000.0, 0
    for _ in range(3):
        for qname, qtype in names:
            for _ in range(rng.randint(0, 1)):
                client = rng.choice(clients)
                mid = (mid + 1) & 0xffff
                port = 30000 + mid % 20000
                when += 0.05
                frames += dnstap_wire.exchange(
                    mid, qname, client, port, "10.96.0.10", when, qtype,
                    answer_after=0.002)
    dnstap_wire.write_file(path, frames)
    return len(frames) // 2, len({n for n, _ in names})


def test_benign_capture_quiet(daemon_bin, workdir):
    path = os.path.join(workdir, "benign.dnstap")
    queries, distinct = benign_capture(path, random.Random(11))
    assert distinct >= 300 and queries >= 800
    events = os.path.join(workdir, "events.jsonl")
    proc, summary, findings = servers.replay(
        path, events_out=events, config=write_config(workdir),
        workdir=workdir)
    assert proc.returncode == 0, proc.stderr[-2000:]
    seen = [e for e in servers.read_jsonl(events) if e.get("kind") == "dns"]
    assert len(seen) == queries, "replay lost events"
    noisy = [(f["spec"]["type"], f["spec"]["signals"].get("qname"),
              f["spec"]["signals"].get("reason"))
             for f in findings
             if f["spec"]["type"] in ("DNSTunneling", "DNSExfiltration")]
    assert noisy == [], noisy
