"""slowQuery against a real resolver: an authoritative server that answers
one zone after 700 to 1500 ms while the others answer at once, Unbound
resolving both with its client dnstap into the daemon, and dig clients
from their own addresses.  The slow zone's client is flagged, the fast
zone's is not.

The authoritative server is a test-only one written here with dnspython
(BIND cannot be told to answer late): UDP on 127.0.0.1 at a free port,
one thread receiving, a timer per delayed answer, so fast answers never
wait behind slow ones.  Every name under a zone has an A record (a
wildcard), so each query asks a new name and Unbound's cache never
answers in its place.
"""

import os
import random
import socket
import subprocess
import threading
import time

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset

import servers as S
from conftest import require, require_root

SLOW_ZONE = "slowzone.com."
FAST_ZONE = "fastzone.com."
SLOW_CLIENT = "127.0.30.1"
FAST_CLIENT = "127.0.30.2"
DELAY = (0.7, 1.5)

DETECTORS = S.only_detectors(slowQuery={"latencyP99": "500ms"})

# Unbound would give up on an unknown server after 376 ms, resend, and
# drop client requests older than 1.9 s; answers up to 1.5 s must pass.
UNBOUND_PATIENCE = """    unknown-server-time-limit: 4000
    infra-cache-min-rtt: 4000
    discard-timeout: 8000"""


class DelayingAuth:
    """Authoritative for zones (origins with a trailing dot) on
    127.0.0.1; names under slow_zone are answered after a random delay
    in DELAY.  Looks enough like servers.AuthServer (addr, port, zones)
    for servers.Unbound to stub every zone to it.  A thread of this
    process, stopped by stop()."""

    def __init__(self, zones, slow_zone):
        self.addr = "127.0.0.1"
        self.port = S.free_port(self.addr)
        self.zones = {z: "" for z in zones}
        self.origins = [dns.name.from_text(z) for z in zones]
        self.slow = dns.name.from_text(slow_zone)
        self.delayed = 0
        self.answered = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._rng = random.Random(1)
        self._sock = None
        self._thread = None

    def start(self):
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind((self.addr, self.port))
        self._sock.settimeout(0.2)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        if self._sock is not None:
            self._sock.close()

    def _serve(self):
        while not self._stop.is_set():
            try:
                wire, peer = self._sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            self._handle(wire, peer)

    def _handle(self, wire, peer):
        try:
            q = dns.message.from_wire(wire)
        except Exception:
            return
        r = self._answer(q).to_wire()
        if q.question and q.question[0].name.is_subdomain(self.slow):
            with self._lock:
                self.delayed += 1
                delay = self._rng.uniform(*DELAY)
            threading.Timer(delay, self._send, (r, peer)).start()
        else:
            self._send(r, peer)

    def _send(self, wire, peer):
        if self._stop.is_set():
            return
        try:
            self._sock.sendto(wire, peer)
        except OSError:
            return
        with self._lock:
            self.answered += 1

    def _answer(self, q):
        r = dns.message.make_response(q)
        r.flags |= dns.flags.AA
        if not q.question:
            r.set_rcode(dns.rcode.FORMERR)
            return r
        qn, qt = q.question[0].name, q.question[0].rdtype
        origin = next((o for o in self.origins if qn.is_subdomain(o)), None)
        if origin is None:
            r.flags &= ~dns.flags.AA
            r.set_rcode(dns.rcode.REFUSED)
        elif qn == origin and qt == dns.rdatatype.SOA:
            r.answer.append(self._soa(origin))
        elif qn != origin and qt == dns.rdatatype.A:
            r.answer.append(dns.rrset.from_text(qn, 60, "IN", "A",
                                                "192.0.2.77"))
        else:
            r.authority.append(self._soa(origin))
        return r

    @staticmethod
    def _soa(origin):
        return dns.rrset.from_text(
            origin, 60, "IN", "SOA",
            "ns.%s hostmaster.%s 1 3600 600 86400 60"
            % (origin.to_text(), origin.to_text()))


def dig_batch(server, port, source, names, workdir, tag):
    """Ask every name (type A) from source in one dig; returns the
    number of NOERROR answers."""
    path = os.path.join(workdir, tag + ".names")
    with open(path, "w") as f:
        for n in names:
            f.write("%s A\n" % n)
    out = subprocess.run(
        [S.which("dig"), "-b", source, "@" + server, "-p", str(port),
         "+tries=1", "+time=5", "+noall", "+comments", "-f", path],
        capture_output=True, text=True, timeout=60 + 6 * len(names)).stdout
    return out.count("status: NOERROR")


def subjects(findings, ftype):
    """[(subject name, signals)] of every finding of one type."""
    out = []
    for f in findings:
        spec = f.get("spec", {})
        if spec.get("type") == ftype:
            out.append((spec["subject"]["name"], spec.get("signals", {})))
    return out


def test_slow_zone_client_flagged(daemon_bin, workdir, procs):
    require_root()
    require("unbound", "dig")
    auth = DelayingAuth(["example.com.", SLOW_ZONE, FAST_ZONE], SLOW_ZONE)
    auth.start()
    try:
        run_slow_zone(daemon_bin, workdir, procs, auth)
    finally:
        auth.stop()


def run_slow_zone(daemon_bin, workdir, procs, auth):
    sock = os.path.join(workdir, "dt.sock")
    config = S.write_config(workdir, detectors=DETECTORS)
    daemon = S.Daemon(workdir, ("unix", sock), config=config)
    procs.append(daemon)
    daemon.start()
    unbound = S.Unbound(workdir, auth, dnstap=sock, log=("client",),
                        addrs=("127.0.0.1",), extra=UNBOUND_PATIENCE)
    procs.append(unbound)
    unbound.start()
    daemon.wait_connected()

    # The fast client teaches the resolver's sketch (200 answers, well
    # past its 50-sample minimum); then the slow client asks three names
    # of the slow zone while the fast client goes on at the same time.
    fast = ["f%d.%s" % (i, FAST_ZONE) for i in range(250)]
    slow = ["s%d.%s" % (i, SLOW_ZONE) for i in range(3)]
    ok = dig_batch(unbound.addr, unbound.port, FAST_CLIENT, fast[:200],
                   workdir, "fast1")
    res = {}
    t0 = time.monotonic()
    th = threading.Thread(target=lambda: res.update(ok=dig_batch(
        unbound.addr, unbound.port, SLOW_CLIENT, slow, workdir, "slow")))
    th.start()
    ok += dig_batch(unbound.addr, unbound.port, FAST_CLIENT, fast[200:],
                    workdir, "fast2")
    th.join(60)
    slow_wall = time.monotonic() - t0
    ok_slow = res.get("ok", 0)
    assert ok == len(fast), "fast answers: %d of %d" % (ok, len(fast))
    assert ok_slow == len(slow), "slow answers: %d of %d" % (ok_slow,
                                                            len(slow))
    assert slow_wall >= DELAY[0] * len(slow)
    assert auth.delayed >= len(slow)

    time.sleep(S.DNSTAP_SETTLE)
    unbound.stop()
    time.sleep(1.0)
    rc, summary = daemon.terminate()
    assert rc == 0, daemon.log_tail()
    check_findings(daemon, summary, len(fast) + len(slow))


def check_findings(daemon, summary, queries):
    events = daemon.events()
    slow_events = [e for e in events if e.get("client") == SLOW_CLIENT
                   and e.get("latency_ms") is not None]
    assert summary["messages"] >= 2 * queries, summary
    assert slow_events, "no answered event of the slow client"
    assert min(e["latency_ms"] for e in slow_events) >= 690

    found = subjects(daemon.findings(), "DNSSlowQuery")
    mine = [sig for name, sig in found if name == SLOW_CLIENT]
    assert mine, "no DNSSlowQuery for the slow client: %r" % found
    sig = mine[0]
    assert sig["zone"] == SLOW_ZONE.rstrip(".")
    assert float(sig["latency_ms"]) >= 690
    assert float(sig["floor_ms"]) == 500.0
    assert int(sig["samples"]) >= 200
    assert float(sig["resolver_p99_ms"]) < 500
    assert sig["resolver"].startswith("127.0.0.1:")
    assert not [n for n, _ in found if n == FAST_CLIENT], found
    assert {n for n, _ in found} == {SLOW_CLIENT}
