"""youngDomain against a test RDAP server on loopback.

The server speaks RFC 9083 JSON at /domain/<name>: a registration 3 days
ago for names containing "new", 10 years ago for the others, 404 for names
containing "missing".  It records when each request came.  A bootstrap
file written by the test sends the TLD "test" to it (the public suffix
list does not know "test", so "www.newshop.test" has the registrable
domain "newshop.test").

- Replay: young names fire DNSToYoungDomain with the evidence, old and
  missing ones don't, a name asked twice is looked up once.
- Flood: 10,000 new domains sent live as fast as the socket takes them;
  the server never sees more than rateLimit a second (plus the one-second
  burst), the excess is dropped and counted, and the event path never
  waits: every message is counted within two seconds and the event queue
  drops nothing.
"""

import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dnstap_wire as W
import servers as S

DAY = 86400
THRESHOLD = 30


class RdapHandler(BaseHTTPRequestHandler):
    def do_GET(self):
        name = self.path.rsplit("/", 1)[-1]
        self.server.seen.append((time.monotonic(), name))
        if not self.path.startswith("/domain/") or "missing" in name:
            self._send(404, {"errorCode": 404, "title": "not found"})
            return
        if self.server.delay:
            time.sleep(self.server.delay)
        # An hour past three days: the queries were made a moment before
        # this lookup, and their age in whole days must still read 3.
        age = 3 * DAY + 3600 if "new" in name else 3650 * DAY
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ",
                             time.gmtime(time.time() - age))
        self._send(200, {
            "objectClassName": "domain",
            "rdapConformance": ["rdap_level_0"],
            "ldhName": name.upper(),
            "status": ["active"],
            "events": [
                {"eventAction": "last changed", "eventDate": when},
                {"eventAction": "registration", "eventDate": when},
                {"eventAction": "expiration",
                 "eventDate": "2099-01-01T00:00:00Z"},
            ],
        })

    def _send(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/rdap+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        pass


class RdapServer:
    def __init__(self, delay=0.0):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), RdapHandler)
        self.httpd.daemon_threads = True
        self.httpd.seen = []
        self.httpd.delay = delay
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()

    @property
    def seen(self):
        return list(self.httpd.seen)


def young_config(workdir, port, rate):
    boot = os.path.join(workdir, "rdap-test.json")
    with open(boot, "w") as f:
        json.dump({"version": "1.0", "services": [
            [["test"], ["http://127.0.0.1:%d/" % port]]]}, f)
    detectors = ("    blocklist:\n      enabled: false\n"
                 "    dga:\n      enabled: false\n"
                 "    youngDomain:\n      enabled: true\n"
                 "      thresholdDays: %d\n"
                 "      rdapBootstrap: %s\n"
                 "      rateLimit: %g\n" % (THRESHOLD, boot, rate))
    return S.write_config(workdir, detectors=detectors,
                          name="young-config.yaml")


def pair(i, qname, when=None):
    return list(W.exchange(i & 0xFFFF, qname, "10.1.0.%d" % (i % 200 + 1),
                           40000 + i % 20000, "10.0.0.53", when,
                           answer_after=0.0))


def young_findings(findings):
    return [f for f in findings if f["spec"]["type"] == "DNSToYoungDomain"]


def test_young_and_old_by_replay(daemon_bin, workdir):
    young = ["www.newshop.test", "cdn.newbank.test", "newsletter.test"]
    old = ["www.oldbank.test", "mail.example.test", "api.shop.test"]
    missing = ["www.missing-one.test"]
    names = young + old + missing + ["login.newshop.test"]
    frames = []
    for i, name in enumerate(names):
        frames += pair(i, name)
    path = os.path.join(workdir, "young.dnstap")
    W.write_file(path, frames)

    with RdapServer() as rdap:
        config = young_config(workdir, rdap.port, 50)
        proc, summary, findings = S.replay(path, config=config,
                                           workdir=workdir)
        seen = sorted(n for _, n in rdap.seen)
    assert proc.returncode == 0, proc.stderr[-2000:]

    # One request per registrable domain, the repeat served from cache.
    regs = sorted({".".join(n.split(".")[-2:]) for n in names})
    assert seen == regs

    got = young_findings(findings)
    by_name = {f["spec"]["signals"]["qname"]: f for f in got}
    assert set(by_name) == {"www.newshop.test", "cdn.newbank.test",
                            "newsletter.test", "login.newshop.test"}
    sig = by_name["www.newshop.test"]["spec"]["signals"]
    assert sig["registrable"] == "newshop.test"
    assert sig["age_days"] == "3"
    assert sig["threshold_days"] == str(THRESHOLD)
    assert sig["rdap_server"] == "http://127.0.0.1:%d/" % rdap.port
    assert sig["registered_at"].endswith("Z")
    assert all(f["spec"]["severity"] == "medium" for f in got)


def windows(times, width):
    """Most requests in any window of width seconds starting at one."""
    times = sorted(times)
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] < t - width:
            j += 1
        best = max(best, i - j + 1)
    return best


def test_flood_respects_rate_and_never_waits(daemon_bin, workdir, procs):
    rate = 20
    n = 10000
    with RdapServer(delay=0.05) as rdap:
        config = young_config(workdir, rdap.port, rate)
        sock = os.path.join(workdir, "daemon.sock")
        daemon = S.Daemon(workdir, ("unix", sock), config=config)
        procs.append(daemon)
        daemon.start()

        sender = W.Sender(sock).handshake()
        now = time.time()
        frames = []
        for i in range(n):
            frames += pair(i, "www.new%05d.test" % i, when=now)
        t0 = time.monotonic()
        for f in frames:
            sender.send(f)
        sent_at = time.monotonic()

        # The event path never waits for RDAP: every message is counted
        # within two seconds of the last one being written.
        S.wait_for(lambda: S.metric(daemon.metrics(),
                                    "ugallu_dns_messages_total",
                                    source="dnstap", side="query") >= n,
                   2.0, "10,000 queries counted")
        counted_at = time.monotonic()
        time.sleep(max(0.0, 6.0 - (time.monotonic() - t0)))
        m = daemon.metrics()
        elapsed = time.monotonic() - t0
        seen = rdap.seen
        sender.finish()

    times = [t for t, _ in seen]
    print("flood: %d requests in %.1f s (max %d in 1 s), counted in %.2f s"
          " after %.2f s of sending, %d lookups dropped" % (
              len(seen), elapsed, windows(times, 1.0), counted_at - sent_at,
              sent_at - t0, S.metric(m, "ugallu_dns_lookups_dropped_total",
                                     reason="young_queue_full")))
    assert len(seen) >= rate * 3, "the worker hardly ran: %d" % len(seen)
    assert len(seen) <= rate * elapsed + rate + 1, (len(seen), elapsed)
    # any one second: the refill plus the burst, and a little slack for
    # timestamping on the server side
    assert windows(times, 1.0) <= 2 * rate + 2, windows(times, 1.0)
    assert len({name for _, name in seen}) == len(seen)

    assert S.metric(m, "ugallu_dns_events_dropped_total",
                    reason="queue_full") == 0
    assert S.metric(m, "ugallu_dns_lookups_dropped_total",
                    reason="young_queue_full") >= n - 1024 - len(seen) - 64
    assert 0 <= S.metric(m, "ugallu_dns_inflight_lookups") <= 16
    young = S.metric(m, "ugallu_dns_rdap_lookups_total", outcome="young")
    assert len(seen) - 16 <= young <= len(seen)

    rc, _ = daemon.terminate()
    assert rc == 0, daemon.log_tail()
    assert len(young_findings(daemon.findings())) >= young
