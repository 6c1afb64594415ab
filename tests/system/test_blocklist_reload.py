"""Blocklist hot reload on the live daemon.

The daemon listens on a dnstap unix socket with one blocklist file in a
temporary directory.  Hand-built query/response pairs (dnstap_wire) go
in; findings come out in findings.jsonl.
- a name not on the list raises nothing;
- the list is rewritten to hold it: within 2 s a query for it is caught
  (the daemon's file watcher reloads; nothing is signalled);
- the list is rewritten broken: the daemon logs the rejection with the
  file and line, and the entries in force before still catch; SIGHUP
  rejects the broken file the same way;
- the reload counters and the entries gauge say the same.

Findings are deduplicated by detector, client and entry, so every phase
queries from a client address of its own.
"""

import os
import signal
import time

import dnstap_wire as W
import servers as S

DETECTORS = """    blocklist:
      enabled: true
      defaultAllowlist: true
      files:
        - %s
    dga:
      enabled: false
    doh:
      enabled: false
    anomalousPort:
      enabled: false
"""

DEADLINE = 2.0  # seconds from a list change to the change in force


class Client:
    """Sends one query/response pair per call, each with a new ID."""

    def __init__(self, sender):
        self.sender = sender
        self.n = 0

    def ask(self, name, client):
        self.n += 1
        for frame in W.exchange(self.n, name, client, 30000 + self.n):
            self.sender.send(frame)


def blocked(daemon, name):
    """The blocklist findings that name name."""
    out = []
    for f in daemon.findings():
        spec = f.get("spec", {})
        if spec.get("type") == "DNSToBlocklistedFQDN" and name in repr(f):
            out.append(f)
    return out


def caught_within(daemon, client, name, addr, deadline=DEADLINE):
    """Ask for name every 100 ms until a finding names it; the seconds it
    took, or None after the deadline."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < deadline:
        client.ask(name, addr)
        time.sleep(0.1)
        if blocked(daemon, name):
            return time.monotonic() - t0
    return None


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def wait_log(daemon, text, count=1, timeout=DEADLINE + 1):
    S.wait_for(lambda: daemon.log_text().count(text) >= count, timeout,
               "daemon log line %r" % text)


def test_blocklist_hot_reload(daemon_bin, workdir, procs):
    lists = os.path.join(workdir, "lists")
    os.makedirs(lists)
    path = os.path.join(lists, "block.txt")
    write(path, "# first version\nfirst.test\n")
    config = S.write_config(workdir, detectors=DETECTORS % path)
    sock = os.path.join(workdir, "daemon.sock")
    daemon = S.Daemon(workdir, ("unix", sock), config=config)
    procs.append(daemon)
    daemon.start()
    client = Client(W.Sender(sock).handshake())

    # 1. On the list: caught; off it: nothing.
    assert caught_within(daemon, client, "a.first.test", "127.0.0.10")
    client.ask("a.later.test", "127.0.0.11")
    time.sleep(0.5)
    assert not blocked(daemon, "later.test")

    # 2. The list rewritten in place to add it: caught within 2 s.
    write(path, "first.test\nlater.test\n")
    took = caught_within(daemon, client, "b.later.test", "127.0.0.12")
    assert took is not None, daemon.log_tail()
    wait_log(daemon, 'msg="blocklist reloaded" trigger=file')

    # 3. A broken list: rejected with file and line, old entries stay.
    write(path, "other.test\nbroken..name\n")
    wait_log(daemon, "blocklist reload rejected")
    assert "%s:2:" % path in daemon.log_text()
    assert caught_within(daemon, client, "c.later.test", "127.0.0.13")
    client.ask("c.other.test", "127.0.0.14")
    time.sleep(0.5)
    assert not blocked(daemon, "other.test")

    # 4. SIGHUP rereads the file and rejects it the same way.
    os.kill(daemon.pid, signal.SIGHUP)
    wait_log(daemon, "trigger=reload error=")
    assert caught_within(daemon, client, "d.first.test", "127.0.0.15")

    m = daemon.metrics()
    name = "ugallu_dns_blocklist_reloads_total"
    assert S.metric(m, name, outcome="ok") >= 1
    assert S.metric(m, name, outcome="rejected") >= 2
    assert S.metric(m, "ugallu_dns_blocklist_entries") == 2

    assert client.sender.finish()
    assert daemon.alive()
    rc, _ = daemon.terminate()
    assert rc == 0
