#!/usr/bin/python3
"""Inputs for scripts/record_sample.sh: names, zones, server configs and
query lists for the bundled sample capture.

    sample_setup.py names          # pick the name lists (only if absent)
    sample_setup.py configs DIR    # write every config and query file

Names (committed beside this file so a re-recording uses the same ones):
- benign-hosts.txt: 300 host names from the Homepage fields of Debian's
  package index (`apt-cache dumpavail`), a fixed stride through the
  sorted unique hosts.
- urlhaus-hosts.txt: 24 host names from the URLhaus "online" list (CC0)
  that Debian's webext-ublock-origin-firefox ships; empty when that
  package is not installed.

Everything else is generated from a fixed seed, so two recordings differ
only in times, ports and message IDs.

Addresses (all loopback; see record_sample.sh):
  127.0.0.1:53          BIND named, the fake root and every TLD zone
  127.0.10.53:53/5353   Unbound, the recursive resolver clients use
  [::1]:53              Unbound too, for IPv6 clients
  127.0.10.54:53        dns2tcpd, authoritative for the tunnel zone
  127.0.20.0/24         client ("pod") source addresses
"""

import hashlib
import os
import random
import re
import string
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SAMPLE = os.path.join(ROOT, "data", "sample")

AUTH = "127.0.0.1"
RESOLVER = "127.0.10.53"
TUNNEL_NS = "127.0.10.54"
ALT_PORT = 5353
TUNNEL_ZONE = "tunnel.example-c2.test"
TXT_PARENT = "sync.data-sink.net"

UBLOCK = ("/usr/share/mozilla/extensions/"
          "{ec8030f7-c20a-464f-9b0e-13a3a9e97384}/uBlock0@raymondhill.net/"
          "assets/thirdparties/urlhaus-filter/urlhaus-filter-online.txt")

HOST_RE = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?"
                     r"(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$")

# Synthetic blocklist entries, in the formats the blocklist detector
# reads: a plain domain, a *.suffix, a hosts-file line.
SYNTHETIC_BLOCKED = [
    "malware-c2.example.test",
    "*.evil-cdn.example.test",
    "0.0.0.0 phish-login.example.test",
    "cryptominer-pool.example.test",
]
# What the sample queries of them (a subdomain tests "under a blocked
# domain").
BLOCKED_QUERIES = [
    ("malware-c2.example.test", "A"),
    ("beacon.malware-c2.example.test", "A"),
    ("update-check.malware-c2.example.test", "TXT"),
    ("js.evil-cdn.example.test", "A"),
    ("phish-login.example.test", "A"),
    ("phish-login.example.test", "AAAA"),
    ("cryptominer-pool.example.test", "A"),
]

DOH_QUERIES = [
    ("use-application-dns.net", "A"),
    ("use-application-dns.net", "AAAA"),
    ("dns.google", "A"),
    ("dns.google", "AAAA"),
    ("cloudflare-dns.com", "A"),
    ("mozilla.cloudflare-dns.com", "A"),
    ("dns.quad9.net", "A"),
    ("doh.opendns.com", "A"),
]
DOH_RECORDS = {
    "dns.google": ["A 8.8.8.8", "A 8.8.4.4", "AAAA 2001:4860:4860::8888"],
    "cloudflare-dns.com": ["A 104.16.248.249", "A 104.16.249.249"],
    "mozilla.cloudflare-dns.com": ["A 104.16.248.249"],
    "dns.quad9.net": ["A 9.9.9.9"],
    "doh.opendns.com": ["A 146.112.41.2"],
}

K8S_SERVICES = [
    "kube-dns.kube-system", "kubernetes.default", "metrics-server."
    "kube-system", "frontend.shop", "cart.shop", "checkout.shop",
    "payments.shop", "redis-master.shop", "postgres.db", "grafana."
    "monitoring", "prometheus-k8s.monitoring", "alertmanager.monitoring",
    "ingress-nginx-controller.ingress-nginx", "cert-manager.cert-manager",
]


# ----------------------------------------------------------------- names

def pick_names():
    """Write benign-hosts.txt and urlhaus-hosts.txt unless present."""
    benign = os.path.join(HERE, "benign-hosts.txt")
    if not os.path.exists(benign):
        hosts = homepage_hosts()
        stride = max(1, len(hosts) // 300)
        write_lines(benign, hosts[::stride][:300])
    urlhaus = os.path.join(HERE, "urlhaus-hosts.txt")
    if not os.path.exists(urlhaus):
        write_lines(urlhaus, urlhaus_hosts(24))


def homepage_hosts():
    out = subprocess.run(["apt-cache", "dumpavail"], capture_output=True,
                         text=True, check=True).stdout
    hosts = set()
    for line in out.splitlines():
        if line.startswith("Homepage:"):
            url = line.split(":", 1)[1].strip().lower()
            host = re.sub(r"^[a-z]+://", "", url)
            host = re.split(r"[/:?#]", host)[0].rstrip(".")
            if HOST_RE.match(host) and not host[-1].isdigit():
                hosts.add(host)
    if len(hosts) < 300:
        sys.exit("too few Homepage hosts: run apt-get update first")
    return sorted(hosts)


def urlhaus_hosts(n):
    if not os.path.exists(UBLOCK):
        return []
    hosts = []
    with open(UBLOCK) as f:
        for line in f:
            h = line.strip().lower()
            if HOST_RE.match(h) and not h[-1].isdigit():
                hosts.append(h)
    hosts.sort()
    stride = max(1, len(hosts) // n)
    return hosts[::stride][:n]


def read_lines(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [x.strip() for x in f if x.strip() and
                not x.startswith("#")]


def write_lines(path, lines):
    with open(path, "w") as f:
        f.write("".join(x + "\n" for x in lines))


# --------------------------------------------------------- generated names

def dga_names(rng, n=150):
    """Random-looking labels of 12 to 22 letters and digits under .com
    and .net, as a domain generation algorithm makes them."""
    alphabet = string.ascii_lowercase + string.digits
    out = []
    for _ in range(n):
        k = rng.randint(12, 22)
        label = rng.choice(string.ascii_lowercase) + "".join(
            rng.choice(alphabet) for _ in range(k - 1))
        out.append(label + rng.choice([".com", ".net"]))
    return out


def cdn_names(rng, n=80):
    """Hashed CDN edge names: benign, but they look random."""
    out = []
    for i in range(n):
        h = "%014x" % rng.getrandbits(56)
        if i % 2:
            out.append("d%s.cloudfront.net" % h[:13])
        else:
            out.append("e%d.a.akamaiedge.net" % rng.randint(1000, 99999))
    return out


def txt_burst(rng, n=200):
    """Unique base32-looking labels under one parent, all TXT."""
    alphabet = "abcdefghijklmnopqrstuvwxyz234567"
    return ["%s.%s" % ("".join(rng.choice(alphabet) for _ in range(
        rng.randint(30, 52))), TXT_PARENT) for _ in range(n)]


def k8s_queries(benign):
    """Service lookups, PTRs of cluster IPs, and the search-path
    expansions a pod with ndots:5 sends before an external name."""
    out = [("%s.svc.cluster.local" % s, "A") for s in K8S_SERVICES]
    out += [("%s.svc.cluster.local" % s, "AAAA") for s in K8S_SERVICES[:5]]
    for host in benign[:12]:
        for suffix in ("default.svc.cluster.local", "svc.cluster.local",
                       "cluster.local"):
            out.append(("%s.%s" % (host, suffix), "A"))
        out.append((host, "A"))
    return out


def ptr_queries(benign):
    out = [("10.0.96.10.in-addr.arpa", "PTR"),
           ("1.0.96.10.in-addr.arpa", "PTR")]
    for host in benign[:30]:
        a = host_v4(host).split(".")
        out.append((".".join(reversed(a)) + ".in-addr.arpa", "PTR"))
    for i in range(10):  # addresses nobody named: NXDOMAIN
        out.append(("%d.77.18.198.in-addr.arpa" % (200 + i), "PTR"))
    return out


def host_v4(name):
    d = hashlib.sha256(name.encode()).digest()
    return "198.18.%d.%d" % (d[0], 1 + d[1] % 250)


def host_v6(name):
    d = hashlib.sha256(name.encode()).hexdigest()
    return "2001:db8:%s::%s" % (d[:4], d[4:8])


# ------------------------------------------------------------------ zones

class Zones:
    """Records per zone: the root, one zone per TLD, in-addr.arpa."""

    def __init__(self):
        self.records = {".": []}

    def zone_of(self, name):
        labels = name.split(".")
        if name.endswith(".in-addr.arpa"):
            return "in-addr.arpa"
        return labels[-1]

    def add(self, name, rr):
        zone = self.zone_of(name)
        self.records.setdefault(zone, []).append("%s. %s" % (name, rr))

    def host(self, name, v6=True):
        self.add(name, "A " + host_v4(name))
        if v6:
            self.add(name, "AAAA " + host_v6(name))

    def write(self, directory):
        """Zone files and the named.conf zone clauses."""
        clauses = []
        for zone in sorted(self.records):
            fname = "db.root" if zone == "." else "db." + zone
            with open(os.path.join(directory, fname), "w") as f:
                f.write(self.text(zone))
            origin = "." if zone == "." else zone + "."
            clauses.append('zone "%s" { type primary; file "%s"; };'
                           % (origin, fname))
        return "\n".join(clauses) + "\n"

    def text(self, zone):
        origin = "." if zone == "." else zone + "."
        head = ("$TTL 300\n%s IN SOA a.root-servers.net. "
                "hostmaster.root-servers.net. 2024010101 1800 900 "
                "604800 60\n%s IN NS a.root-servers.net.\n"
                % (origin, origin))
        body = list(self.records[zone])
        if zone == ".":
            body.append("a.root-servers.net. A %s" % AUTH)
            for tld in sorted(self.records):
                if tld != ".":
                    body.append("%s. NS a.root-servers.net." % tld)
        return head + "\n".join(body) + "\n"


def build_zones(benign, urlhaus, dga):
    z = Zones()
    # The name server of every zone; in-zone for net., so it needs its
    # address there too (the root zone carries it as glue).
    z.add("a.root-servers.net", "A " + AUTH)
    for i, host in enumerate(benign):
        z.host(host, v6=bool(i % 2))
    for host in urlhaus:
        z.host(host, v6=False)
    for name, rrs in DOH_RECORDS.items():
        for rr in rrs:
            z.add(name, rr)
    for name in dga[:3]:  # the few names the "botmaster" registered
        z.host(name, v6=False)
    z.add("*.cloudfront.net", "A 198.19.1.1")
    z.add("*.a.akamaiedge.net", "A 198.19.2.2")
    z.add("*.a.akamaiedge.net", "AAAA 2001:db8:2::2")
    z.add("*." + TXT_PARENT, 'TXT "ack"')
    z.add(TXT_PARENT, "A 198.19.3.3")
    for svc in K8S_SERVICES:
        z.add("%s.svc.cluster.local" % svc,
              "A 10.96.%d.%d" % (K8S_SERVICES.index(svc), 10))
    z.add("10.0.96.10.in-addr.arpa", "PTR kube-dns.kube-system.svc."
          "cluster.local.")
    for host in benign[:30]:
        a = host_v4(host).split(".")
        z.add(".".join(reversed(a)) + ".in-addr.arpa", "PTR %s." % host)
    for name in ("malware-c2.example.test",
                 "beacon.malware-c2.example.test",
                 "phish-login.example.test",
                 "cryptominer-pool.example.test"):
        z.host(name, v6=False)
    z.add("update-check.malware-c2.example.test", 'TXT "cmd=sleep 3600"')
    z.add("*.evil-cdn.example.test", "A 198.19.66.6")
    # The tunnel zone is delegated to dns2tcpd, with glue.
    z.add(TUNNEL_ZONE, "NS ns." + TUNNEL_ZONE + ".")
    z.add("ns." + TUNNEL_ZONE, "A " + TUNNEL_NS)
    return z


# ---------------------------------------------------------------- configs

NAMED_CONF = """options {
    directory "%(dir)s";
    pid-file none;
    session-keyfile none;
    managed-keys-directory "%(dir)s";
    listen-on port 53 { %(auth)s; };
    listen-on-v6 { none; };
    recursion no;
    dnssec-validation no;
    notify no;
    minimal-responses no;
};
controls { };
"""

UNBOUND_CONF = """server:
    interface: %(resolver)s@53
    interface: %(resolver)s@%(alt)d
    interface: ::1@53
    outgoing-interface: %(resolver)s
    do-ip6: yes
    do-daemonize: no
    username: ""
    chroot: ""
    directory: "%(dir)s"
    pidfile: ""
    use-syslog: no
    logfile: ""
    verbosity: 1
    num-threads: 1
    root-hints: "%(dir)s/root.hints"
    do-not-query-localhost: no
    module-config: "iterator"
    # dns2tcpd answers only its own query names: a minimised query such
    # as "?auth.tunnel.example-c2.test A" gets no reply, and the tunnel
    # client times out before unbound falls back to the full name.
    qname-minimisation: no
    access-control: 127.0.0.0/8 allow
    access-control: ::1/128 allow
    local-zone: "test." nodefault
    unblock-lan-zones: yes
    insecure-lan-zones: yes
    harden-referral-path: no
dnstap:
    dnstap-enable: yes
    dnstap-socket-path: "%(dir)s/dnstap.sock"
    dnstap-send-identity: yes
    dnstap-send-version: yes
    dnstap-identity: "sample-resolver"
    dnstap-log-client-query-messages: yes
    dnstap-log-client-response-messages: yes
    dnstap-log-resolver-query-messages: yes
    dnstap-log-resolver-response-messages: yes
"""

DNS2TCPD_CONF = """listen = %(ns)s
port = 53
domain = %(zone)s
key = sample-key
resources = echo:127.0.0.1:%(echo)d
"""


def write_configs(directory, echo_port):
    rng = random.Random(20240101)
    benign = read_lines(os.path.join(HERE, "benign-hosts.txt"))
    urlhaus = read_lines(os.path.join(HERE, "urlhaus-hosts.txt"))
    dga = dga_names(rng)
    cdn = cdn_names(rng)
    txt = txt_burst(rng)
    zones = build_zones(benign, urlhaus, dga)

    write(directory, "named.conf",
          NAMED_CONF % dict(dir=directory, auth=AUTH) +
          zones.write(directory))
    write(directory, "root.hints",
          ". 3600000 NS a.root-servers.net.\n"
          "a.root-servers.net. 3600000 A %s\n" % AUTH)
    write(directory, "unbound.conf",
          UNBOUND_CONF % dict(dir=directory, resolver=RESOLVER,
                              alt=ALT_PORT))
    write(directory, "dns2tcpd.conf",
          DNS2TCPD_CONF % dict(ns=TUNNEL_NS, zone=TUNNEL_ZONE,
                               echo=echo_port))
    write_queries(directory, benign, urlhaus, dga, cdn, txt)
    write_blocklist(urlhaus)


def write_queries(directory, benign, urlhaus, dga, cdn, txt):
    """One dnsperf/dig input per phase: `name type` lines."""
    def q(name, pairs):
        write(directory, name + ".q",
              "".join("%s %s\n" % p for p in pairs))
    q("benign", [(h, "A") for h in benign] +
      [(h, "AAAA") for h in benign[::3]] +
      [(h, "HTTPS") for h in benign[::10]] + [(c, "A") for c in cdn])
    q("k8s", k8s_queries(benign))
    q("ptr", ptr_queries(benign))
    q("doh", DOH_QUERIES)
    q("blocked", BLOCKED_QUERIES + [(h, "A") for h in urlhaus])
    q("dga", [(d, "A") for d in dga])
    q("txt", [(t, "TXT") for t in txt])
    q("benign-tail", [(h, "A") for h in benign[::7]] +
      [(h, "MX") for h in benign[:20]])
    q("alt-port", [(h, "A") for h in benign[100:106]])
    q("v6", [(h, "AAAA") for h in benign[200:230]])


def write_blocklist(urlhaus):
    lines = ["# Blocklist for the sample capture (data/sample/README.md).",
             "# Synthetic entries, one per supported format:"]
    lines += SYNTHETIC_BLOCKED
    if urlhaus:
        lines += ["# From the URLhaus online list (CC0), as shipped by",
                  "# Debian's webext-ublock-origin-firefox:"]
        lines += urlhaus
    write(SAMPLE, "blocklist.txt", "\n".join(lines) + "\n")


def write(directory, name, text):
    with open(os.path.join(directory, name), "w") as f:
        f.write(text)


def main(argv):
    if len(argv) >= 2 and argv[1] == "names":
        pick_names()
    elif len(argv) >= 4 and argv[1] == "configs":
        write_configs(argv[2], int(argv[3]))
    else:
        sys.exit("usage: sample_setup.py names | configs DIR ECHO_PORT")


if __name__ == "__main__":
    main(sys.argv)
