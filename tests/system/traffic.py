"""Query mixes for the system tests, sent with dig and dnsperf.

The names live in servers.ZONES, so every rcode a test expects is known
in advance: names under *.cdn.example.com and example.org resolve
(NOERROR), random names under example.net do not (NXDOMAIN), AAAA for an
A-only name is NODATA.  The mix is seeded, so a failing run can be
repeated exactly.
"""

import random

from servers import dig, dnsperf

KNOWN = [
    ("www.example.com", "A"), ("www.example.com", "AAAA"),
    ("example.com", "MX"), ("txt.example.com", "TXT"),
    ("alias.example.com", "A"), ("host.example.net", "AAAA"),
    ("kube-dns.kube-system.svc.cluster.local", "A"),
    ("kubernetes.default.svc.cluster.local", "A"),
    ("10.2.0.192.in-addr.arpa", "PTR"),
    ("11.2.0.192.in-addr.arpa", "PTR"),
]


def mix(n, seed=1):
    """n (name, type) pairs: about 60 % NOERROR, 25 % NXDOMAIN, the rest
    NODATA, TXT and other types."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        r = rng.random()
        tag = "%x%d" % (rng.getrandbits(24), i)
        if r < 0.45:
            out.append(("n%s.cdn.example.com" % tag,
                        rng.choice(["A", "AAAA"])))
        elif r < 0.60:
            out.append(("h%s.example.org" % tag, "A"))
        elif r < 0.85:
            out.append(("nx%s.example.net" % tag, "A"))
        elif r < 0.92:
            out.append(("t%s.txt.example.com" % tag, "TXT"))
        else:
            out.append(KNOWN[i % len(KNOWN)])
    return out


def send_mix(host, port, workdir, udp=400, tcp=100, qps=3000,
             host6="::1", digs=True):
    """Send a mix: dnsperf over UDP and TCP to host, dig over UDP and
    TCP to host and host6.  Returns the number of queries sent."""
    sent = 0
    if udp:
        sent += dnsperf(host, port, mix(udp, 1), workdir, qps=qps,
                        name="perf-udp")["sent"]
    if tcp:
        sent += dnsperf(host, port, mix(tcp, 2), workdir, mode="tcp",
                        qps=qps, name="perf-tcp")["sent"]
    if digs:
        sent += send_digs(host, port, host6)
    return sent


def send_digs(host, port, host6="::1"):
    """A few dig queries over each transport and family; returns how
    many were sent."""
    sent = 0
    for i, (name, qtype) in enumerate(KNOWN):
        for server in (host, host6):
            if server:
                dig(server, port, name, qtype, tcp=bool(i % 2))
                sent += 1
    return sent
