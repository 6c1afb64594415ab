"""Source supervision: silence alarm, fallback, and the way back.

The daemon's primary is real CoreDNS with the ugallu plugin; its fallback
is a dnstap unix socket (spec.source.fallback: dnstap), with a silence
window of 2 s.  A client keeps asking CoreDNS a few times a second.
CoreDNS is killed: within a few seconds the daemon reports
DNSSourceSilent (class Anomaly), opens the dnstap socket and makes it the
active source; the sample dnstap capture replayed into that socket
becomes events.  CoreDNS is started again on the same ports: the daemon
redials it, switches back, and removes the fallback socket.
"""

import os
import socket
import struct
import threading
import time

import servers
from test_coredns_source import CoreDNS, coredns_dir, free_ports

__all__ = ["coredns_dir"]  # the fixture, imported for pytest

SAMPLE = os.path.join(servers.ROOT, "data", "sample", "sample.dnstap")

CONFIG = """apiVersion: security.ugallu.io/v1alpha1
kind: DNSDetectConfig
metadata:
  name: fallback
spec:
  source:
    mode: coredns-ugallu
    fallback: dnstap
    dnstapSocket: %s
    silenceAfter: %s
  detectors:
    blocklist:
      enabled: false
"""


def query(port, name, qid):
    """One UDP A query to 127.0.0.1:port; the answer is not awaited."""
    wire = b"".join(bytes([len(p)]) + p.encode()
                    for p in name.split(".") if p) + b"\0"
    msg = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + wire + \
        struct.pack(">HH", 1, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(msg, ("127.0.0.1", port))
        s.settimeout(0.2)
        try:
            s.recv(512)
        except OSError:
            pass


class Asker(threading.Thread):
    """Ask CoreDNS for self.name every 200 ms until stopped."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port = port
        self.name_ = "www.example.com"
        self.done = threading.Event()

    def run(self):
        qid = 1
        while not self.done.is_set():
            query(self.port, self.name_, qid)
            qid = (qid + 1) & 0xffff
            time.sleep(0.2)


def active(d, source):
    return d.metrics().get(("ugallu_dns_source_active",
                            frozenset({("source", source)})))


def test_silence_fallback_and_back(coredns_dir, daemon_bin, workdir, procs):
    dns_port, grpc_port = free_ports(2)
    cd = CoreDNS(coredns_dir, workdir, dns_port, grpc_port)
    procs.append(cd)
    cd.start()
    asker = Asker(dns_port)
    asker.start()

    ddir = os.path.join(workdir, "d")
    os.makedirs(ddir, exist_ok=True)
    sock = os.path.join(workdir, "fallback.sock")
    config = os.path.join(ddir, "config.yaml")
    with open(config, "w") as f:
        f.write(CONFIG % (sock, "2s"))
    d = servers.Daemon(workdir, ("coredns", "127.0.0.1:%d" % grpc_port,
                                 cd.token_path), config=config, name="d")
    procs.append(d)
    try:
        d.start()
        servers.wait_for(lambda: any(e["source"] == "coredns-ugallu"
                                     for e in d.events()), 15,
                         "events from CoreDNS")
        assert active(d, "coredns-ugallu") == 1
        assert active(d, "dnstap") == 0
        assert not os.path.exists(sock)

        # CoreDNS dies: the alarm within the window and a few ticks.
        cd.stop(servers.signal.SIGKILL)
        killed = time.monotonic()
        servers.wait_for(lambda: any(
            f["spec"]["type"] == "DNSSourceSilent" for f in d.findings()),
            10, "DNSSourceSilent")
        assert time.monotonic() - killed < 6
        servers.wait_for(lambda: active(d, "dnstap") == 1, 5,
                         "the fallback to become active")
        assert active(d, "coredns-ugallu") == 0
        silent = [f for f in d.findings()
                  if f["spec"]["type"] == "DNSSourceSilent"]
        assert len(silent) == 1
        spec = silent[0]["spec"]
        assert spec["class"] == "Anomaly"
        assert spec["subject"]["name"] == "node-a"
        assert spec["signals"]["reason"] == "coredns-ugallu"

        # The fallback delivers.
        servers.wait_for(lambda: os.path.exists(sock), 5, "fallback socket")
        r = servers.dnstap_replay(SAMPLE, socket_path=sock)
        assert r.returncode == 0, r.stderr
        servers.wait_for(lambda: any(e["source"] == "dnstap"
                                     for e in d.events()), 10,
                         "events from the dnstap fallback")

        # CoreDNS returns on the same ports: back to the primary.
        asker.name_ = "back.example.com"
        cd2 = CoreDNS(coredns_dir, workdir, dns_port, grpc_port,
                      name="coredns2")
        procs.append(cd2)
        cd2.start()
        servers.wait_for(lambda: active(d, "coredns-ugallu") == 1, 45,
                         "the switch back to CoreDNS")
        assert active(d, "dnstap") == 0
        servers.wait_for(lambda: not os.path.exists(sock), 5,
                         "the fallback socket to go")
        servers.wait_for(lambda: any(e["qname"] == "back.example.com" and
                                     e["source"] == "coredns-ugallu"
                                     for e in d.events()), 10,
                         "events from CoreDNS again")
    finally:
        asker.done.set()
        asker.join()
    rc, _ = d.terminate()
    assert rc == 0, d.log_tail()
    log = d.log_text()
    assert "switched to the fallback source" in log
    assert "switched back to the primary source" in log


def test_killed_in_backoff_starts_fresh(coredns_dir, daemon_bin, workdir,
                                        procs):
    """A daemon killed while CoreDNS is down (its stream in backoff, the
    fallback active) leaves a stale fallback socket behind; the next one
    starts on the primary, reports the silence again, rebinds the
    fallback socket, and follows CoreDNS when it returns."""
    dns_port, grpc_port = free_ports(2)
    cd = CoreDNS(coredns_dir, workdir, dns_port, grpc_port)
    cd_token = cd.token_path
    ddir = os.path.join(workdir, "d")
    os.makedirs(ddir, exist_ok=True)
    sock = os.path.join(workdir, "fallback.sock")
    config = os.path.join(ddir, "config.yaml")
    # The window comes from the flag here; the config's would be 60 s.
    with open(config, "w") as f:
        f.write(CONFIG % (sock, "60s"))
    flag = ("--source-silence", "2s")
    source = ("coredns", "127.0.0.1:%d" % grpc_port, cd_token)

    first = servers.Daemon(workdir, source, config=config, name="d1",
                           extra_args=flag)
    procs.append(first)
    first.start()
    servers.wait_for(lambda: active(first, "dnstap") == 1, 10,
                     "the first daemon on its fallback")
    first.stop(servers.signal.SIGKILL)
    assert os.path.exists(sock)  # stale: nobody removed it

    second = servers.Daemon(workdir, source, config=config, name="d2",
                            extra_args=flag)
    procs.append(second)
    second.start()
    assert active(second, "coredns-ugallu") == 1
    servers.wait_for(lambda: any(
        f["spec"]["type"] == "DNSSourceSilent" for f in second.findings()),
        10, "DNSSourceSilent from the new daemon")
    servers.wait_for(lambda: active(second, "dnstap") == 1, 5,
                     "the new daemon's fallback")
    r = servers.dnstap_replay(SAMPLE, socket_path=sock)
    assert r.returncode == 0, r.stderr

    procs.append(cd)
    cd.start()
    asker = Asker(dns_port)
    asker.start()
    try:
        servers.wait_for(lambda: active(second, "coredns-ugallu") == 1, 45,
                         "the switch to CoreDNS")
    finally:
        asker.done.set()
        asker.join()
    rc, summary = second.terminate()
    assert rc == 0, second.log_tail()
    sources = {e["source"] for e in second.events()}
    assert sources == {"dnstap", "coredns-ugallu"}
