"""Real DNS servers, the daemon and the capture tools, run on loopback.

Every process here is started in the foreground by the test that needs it
and stopped by its own PID (SIGTERM, then SIGKILL after a grace period):
there is no systemd on the test machines and nothing may be left running.

The layout every test uses:

    clients (dig, dnsperf, python) ──▶ server under test ──▶ AuthServer
                                          │ dnstap                (named,
                                          ▼                       fake root
                        Daemon (ugallu-dns-detect) or FstrmCapture  + zones)

AuthServer is one BIND named serving a fake root zone and every zone the
tests query, on 127.0.0.1 and ::1 at a free port.  Resolvers reach it
through stub (Unbound) or forward (BIND) zones that carry the port, so
nothing ever leaves the machine.  Ports are picked free at start; two test
runs side by side do not collide.

Nothing in this module asserts: it starts, waits, stops and reads counters.
"""

import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.request

# Project root (tests/system/servers.py -> ../..).
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))

# How long a server may take to start answering, and to exit on SIGTERM.
START_TIMEOUT = 20.0
STOP_TIMEOUT = 15.0

# dnstap senders lose what they write in about the first second after the
# connection is made and what is queued when they exit (LAB.md).  Traffic
# starts this long after the connection is seen, and a server is stopped
# this long after its last query.
DNSTAP_SETTLE = 2.0

CONTENT_TYPE = "protobuf:dnstap.Dnstap"


# ---------------------------------------------------------------- helpers

def which(name):
    """Full path of a program (also in /usr/sbin), or None."""
    path = shutil.which(name)
    if path is None:
        for d in ("/usr/sbin", "/sbin", "/usr/local/sbin"):
            cand = os.path.join(d, name)
            if os.access(cand, os.X_OK):
                return cand
    return path


def daemon_binary():
    """The daemon under test: $UGALLU_BIN, else the usual build paths."""
    env = os.environ.get("UGALLU_BIN")
    if env:
        return env
    for rel in ("build/ugallu-dns-detect", "build/src/ugallu-dns-detect"):
        cand = os.path.join(ROOT, rel)
        if os.access(cand, os.X_OK):
            return cand
    return os.path.join(ROOT, "build/ugallu-dns-detect")


# Ports handed out by free_port(), never handed out twice in one run.
_GIVEN = set()


def free_port(host="127.0.0.1", family=socket.AF_INET, also_v6=False):
    """A port free for both UDP and TCP on host (and on ::1 if asked).

    Taken below Linux's ephemeral range (32768-60999), so the clients of
    other tests (dig, dnsperf, our own daemons) cannot take it between
    this check and the server's bind, and never the same one twice."""
    rnd = random.Random()
    for _ in range(500):
        port = rnd.randint(20000, 32000)
        if port in _GIVEN:
            continue
        if _both_free(host, family, port) and (
                not also_v6 or _both_free("::1", socket.AF_INET6, port)):
            _GIVEN.add(port)
            return port
    raise RuntimeError("no free port found on %s" % host)


def _udp_free(host, family, port):
    with socket.socket(family, socket.SOCK_DGRAM) as u:
        try:
            u.bind((host, port))
        except OSError:
            return False
    return True


def _both_free(host, family, port):
    with socket.socket(family, socket.SOCK_STREAM) as t:
        try:
            t.bind((host, port))
        except OSError:
            return False
    return _udp_free(host, family, port)


def port_free(host, port):
    """True when UDP and TCP port on host can be bound right now."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return _both_free(host, family, port)


def wait_for(predicate, timeout, what, interval=0.05):
    """Poll predicate() until it is true; raise naming what on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise TimeoutError("timed out waiting for " + what)


def dns_answers(host, port, name="probe.", qtype="SOA", tcp=False):
    """True when host:port answers a DNS query at all (any rcode)."""
    import dns.message
    import dns.query
    q = dns.message.make_query(name, qtype)
    try:
        if tcp:
            dns.query.tcp(q, host, port=port, timeout=0.5)
        else:
            dns.query.udp(q, host, port=port, timeout=0.5)
    except Exception:
        return False
    return True


def unix_socket_connected(path):
    """True when some peer is connected to the listening unix socket."""
    out = subprocess.run(["ss", "-xH", "state", "connected"],
                         capture_output=True, text=True).stdout
    for line in out.splitlines():
        if path in line.split():
            return True
    return False


def tcp_connected(port):
    """True when some peer holds an established TCP connection to port."""
    out = subprocess.run(["ss", "-tnH", "state", "established",
                          "( sport = :%d )" % port],
                         capture_output=True, text=True).stdout
    return bool(out.strip())


def http_get(url, headers=None, timeout=5.0):
    """(status, body text) of a GET; status 0 when nothing answers."""
    return _http(urllib.request.Request(url, headers=headers or {}),
                 timeout)


def http_post(url, body, headers=None, timeout=5.0):
    """(status, body text) of a POST of body (bytes or text); status 0
    when nothing answers."""
    data = body.encode() if isinstance(body, str) else body
    return _http(urllib.request.Request(url, data=data,
                                        headers=headers or {},
                                        method="POST"), timeout)


def _http(req, timeout):
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")
    except OSError:
        return 0, ""


# -------------------------------------------------------------- processes

class Process:
    """One foreground child process with its log file, stopped by PID."""

    def __init__(self, name, argv, workdir, env=None, cwd=None):
        self.name = name
        self.argv = argv
        self.workdir = workdir
        self.cwd = cwd or workdir
        self.env = env
        self.proc = None
        self.log_path = os.path.join(workdir, name + ".log")
        self.out_path = os.path.join(workdir, name + ".out")

    def start(self):
        """Start the process, stdout and stderr to files in workdir."""
        self._out = open(self.out_path, "wb")
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.argv, cwd=self.cwd,
                                     stdout=self._out, stderr=self._log,
                                     stdin=subprocess.DEVNULL, env=self.env)
        return self

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def check_alive(self):
        """Raise with the log tail when the process has died."""
        if not self.alive():
            raise RuntimeError("%s exited early (rc=%s):\n%s" % (
                self.name, self.proc.returncode, self.log_tail()))

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """Signal the process by PID and wait; SIGKILL after timeout.
        Returns the exit code (negative for a signal)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._out.close()
        self._log.close()
        return self.proc.returncode

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def out_text(self):
        with open(self.out_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def log_tail(self, n=30):
        return "\n".join(self.log_text().splitlines()[-n:])


# ----------------------------------------------------------------- zones

# The zones every test can query.  Names under a wildcard always resolve,
# so generated names give NOERROR; names elsewhere in a zone give NXDOMAIN
# and an AAAA for an A-only name gives NODATA.
ZONES = {
    ".": """
. IN NS a.root-servers.test.
a.root-servers.test. IN A 127.0.0.1
a.root-servers.net. IN A 127.0.0.1
com. IN NS a.root-servers.test.
net. IN NS a.root-servers.test.
org. IN NS a.root-servers.test.
local. IN NS a.root-servers.test.
arpa. IN NS a.root-servers.test.
""",
    "example.com.": """
@ IN NS a.root-servers.test.
@ IN A 192.0.2.10
www IN A 192.0.2.11
www IN AAAA 2001:db8::11
mail IN A 192.0.2.12
@ IN MX 10 mail.example.com.
txt IN TXT "v=spf1 -all"
*.cdn IN A 192.0.2.20
*.cdn IN AAAA 2001:db8::20
*.wild IN A 192.0.2.30
*.txt IN TXT "payload"
alias IN CNAME www.example.com.
""",
    "example.net.": """
@ IN NS a.root-servers.test.
@ IN A 198.51.100.1
host IN A 198.51.100.2
""",
    "example.org.": """
@ IN NS a.root-servers.test.
* IN A 203.0.113.7
""",
    "cluster.local.": """
@ IN NS a.root-servers.test.
kube-dns.kube-system.svc IN A 10.96.0.10
kubernetes.default.svc IN A 10.96.0.1
*.default.svc IN A 10.96.1.1
""",
    "2.0.192.in-addr.arpa.": """
@ IN NS a.root-servers.test.
10 IN PTR example.com.
11 IN PTR www.example.com.
""",
}

SOA = ("@ IN SOA a.root-servers.test. hostmaster.example.com. "
       "1 3600 600 86400 60\n")


def zone_text(origin, body):
    """A zone file: $ORIGIN, $TTL, SOA, then body."""
    return "$ORIGIN %s\n$TTL 300\n%s%s" % (origin, SOA, body)


class AuthServer(Process):
    """BIND named, authoritative only, for the fake root and ZONES.

    Listens on 127.0.0.1 and ::1 at self.port (named only binds addresses
    of configured interfaces, so it takes a free port on those two).
    """

    def __init__(self, workdir, zones=None, port=None, addr="127.0.0.1",
                 v6=True, extra_options=""):
        self.dir = os.path.join(workdir, "auth")
        os.makedirs(self.dir, exist_ok=True)
        self.addr = addr
        self.port = port or free_port(addr, also_v6=v6)
        self.v6 = v6
        self.zones = zones if zones is not None else ZONES
        self.extra_options = extra_options
        conf = os.path.join(self.dir, "named.conf")
        super().__init__("auth", [which("named"), "-g", "-c", conf],
                         self.dir)

    def write_config(self):
        """Write named.conf and one file per zone."""
        zones = []
        for i, (origin, body) in enumerate(sorted(self.zones.items())):
            fname = "zone%d.db" % i
            with open(os.path.join(self.dir, fname), "w") as f:
                f.write(zone_text(origin, body))
            zones.append('zone "%s" { type primary; file "%s"; };'
                         % (origin, fname))
        v6 = ("listen-on-v6 port %d { ::1; };" % self.port if self.v6
              else "listen-on-v6 { none; };")
        conf = NAMED_OPTIONS % dict(dir=self.dir, port=self.port,
                                    addr=self.addr, v6=v6,
                                    recursion="recursion no;",
                                    extra=self.extra_options)
        with open(os.path.join(self.dir, "named.conf"), "w") as f:
            f.write(conf)
            f.write("\n".join(zones) + "\n")

    def start(self):
        self.write_config()
        super().start()
        wait_for(lambda: self._ready(), START_TIMEOUT, "named (auth)")
        return self

    def _ready(self):
        self.check_alive()
        return dns_answers(self.addr, self.port, ".", "SOA")


NAMED_OPTIONS = """
options {
    directory "%(dir)s";
    pid-file none;
    session-keyfile none;
    managed-keys-directory "%(dir)s";
    listen-on port %(port)d { %(addr)s; };
    %(v6)s
    %(recursion)s
    dnssec-validation no;
    notify no;
    allow-query { any; };
    minimal-responses no;
    %(extra)s
};
controls { };
logging { category default { null; }; };
"""


# ------------------------------------------------------------- resolvers

class Unbound(Process):
    """Unbound as a recursive resolver, iterating to an AuthServer.

    dnstap is either a unix socket path or ("tcp", host, port).  log
    selects which dnstap message kinds are sent: any of "client",
    "resolver", "forwarder".  Statistics come from unbound-control.
    """

    def __init__(self, workdir, auth, dnstap=None, log=("client",),
                 addrs=("127.0.0.1", "::1"), port=None, extra_ports=(),
                 name="unbound", extra=""):
        self.dir = os.path.join(workdir, name)
        os.makedirs(self.dir, exist_ok=True)
        self.auth = auth
        self.dnstap = dnstap
        self.log = set(log)
        self.addrs = addrs
        self.addr = addrs[0]
        self.port = port or free_port(addrs[0],
                                      also_v6="::1" in addrs)
        self.extra_ports = extra_ports
        self.control_port = free_port()
        self.extra = extra
        self.conf = os.path.join(self.dir, "unbound.conf")
        super().__init__(name, [which("unbound"), "-d", "-c", self.conf],
                         self.dir)

    def write_config(self):
        with open(self.conf, "w") as f:
            f.write(self._server_section())
            f.write(self._stub_sections())
            f.write(self._dnstap_section())
            f.write(UNBOUND_CONTROL % dict(port=self.control_port))

    def _server_section(self):
        lines = ["server:"]
        for a in self.addrs:
            lines.append("    interface: %s@%d" % (a, self.port))
        for p in self.extra_ports:
            lines.append("    interface: %s@%d" % (self.addrs[0], p))
        lines.append(UNBOUND_SERVER % dict(dir=self.dir))
        for origin in self.auth.zones:
            if origin != ".":
                lines.append('    local-zone: "%s" nodefault' % origin)
                lines.append('    domain-insecure: "%s"' % origin)
        lines.append(self.extra)
        return "\n".join(lines) + "\n"

    def _stub_sections(self):
        # A stub per zone keeps every query at the auth server's port
        # (referrals would otherwise send unbound to port 53).
        out = []
        for origin in sorted(self.auth.zones):
            out.append("stub-zone:\n    name: \"%s\"\n"
                       "    stub-addr: %s@%d\n"
                       % (origin, self.auth.addr, self.auth.port))
        return "".join(out)

    def _dnstap_section(self):
        if self.dnstap is None:
            return ""
        lines = ["dnstap:", "    dnstap-enable: yes",
                 "    dnstap-send-identity: yes",
                 "    dnstap-send-version: yes",
                 "    dnstap-identity: \"unbound-test\""]
        if isinstance(self.dnstap, tuple):
            lines.append("    dnstap-ip: %s@%d" % self.dnstap[1:])
            lines.append("    dnstap-tls: no")
        else:
            lines.append("    dnstap-socket-path: \"%s\"" % self.dnstap)
        for kind in ("client", "resolver", "forwarder"):
            on = "yes" if kind in self.log else "no"
            for side in ("query", "response"):
                lines.append("    dnstap-log-%s-%s-messages: %s"
                             % (kind, side, on))
        return "\n".join(lines) + "\n"

    def start(self):
        self.write_config()
        super().start()
        wait_for(lambda: self._ready(), START_TIMEOUT, "unbound")
        return self

    def _ready(self):
        self.check_alive()
        return dns_answers(self.addrs[0], self.port, "example.com.", "SOA")

    def stats(self):
        """unbound-control stats_noreset as a dict of numbers."""
        out = subprocess.run(
            [which("unbound-control"), "-c", self.conf, "stats_noreset"],
            capture_output=True, text=True, check=True).stdout
        stats = {}
        for line in out.splitlines():
            key, _, val = line.partition("=")
            try:
                stats[key] = float(val)
            except ValueError:
                pass
        return stats

    def answered(self):
        """(queries received, responses sent by rcode) from the stats."""
        s = self.stats()
        rcodes = {k.split(".")[-1]: int(v) for k, v in s.items()
                  if k.startswith("num.answer.rcode.")
                  and k != "num.answer.rcode.nodata"}
        return int(s["total.num.queries"]), rcodes


UNBOUND_SERVER = """    port: 53
    do-daemonize: no
    username: ""
    chroot: ""
    directory: "%(dir)s"
    pidfile: ""
    use-syslog: no
    logfile: ""
    verbosity: 1
    num-threads: 1
    so-reuseport: no
    do-ip6: yes
    do-not-query-localhost: no
    module-config: "iterator"
    qname-minimisation: no
    target-fetch-policy: "0 0 0 0 0"
    prefetch: no
    minimal-responses: no
    access-control: 127.0.0.0/8 allow
    access-control: ::1/128 allow
    statistics-cumulative: no
    extended-statistics: yes
    unblock-lan-zones: yes
    insecure-lan-zones: yes
    harden-referral-path: no
    val-log-level: 0"""

UNBOUND_CONTROL = """remote-control:
    control-enable: yes
    control-interface: 127.0.0.1
    control-port: %(port)d
    control-use-cert: no
"""


class BindResolver(Process):
    """BIND named as a recursive resolver forwarding to an AuthServer.

    BIND cannot send to a port other than 53 from root hints, so the
    fake root is reached through a forward zone (dnstap shows forwarded
    traffic as resolver messages).  dnstap is a unix socket path; log
    is a list of dnstap types for BIND's `dnstap { ... }` clause.
    Statistics come from the JSON statistics channel.
    """

    def __init__(self, workdir, auth, dnstap=None, log=("client",),
                 name="bind"):
        self.dir = os.path.join(workdir, name)
        os.makedirs(self.dir, exist_ok=True)
        self.auth = auth
        self.dnstap = dnstap
        self.log = log
        self.addr = "127.0.0.1"
        self.port = free_port(also_v6=True)
        self.stats_port = free_port()
        conf = os.path.join(self.dir, "named.conf")
        super().__init__(name, [which("named"), "-g", "-c", conf],
                         self.dir)

    def write_config(self):
        dnstap = ""
        if self.dnstap:
            dnstap = ('dnstap { %s };\n    dnstap-output unix "%s";\n'
                      '    dnstap-identity "bind-test";\n'
                      '    fstrm-set-reopen-interval 1;'
                      % (" ".join("%s;" % k for k in self.log),
                         self.dnstap))
        conf = NAMED_OPTIONS % dict(
            dir=self.dir, port=self.port, addr=self.addr,
            v6="listen-on-v6 port %d { ::1; };" % self.port,
            recursion="recursion yes; allow-recursion { any; };",
            extra=("forward only;\n    forwarders { %s port %d; };\n    "
                   "qname-minimization off;\n    %s"
                   % (self.auth.addr, self.auth.port, dnstap)))
        conf += ("statistics-channels { inet 127.0.0.1 port %d "
                 "allow { 127.0.0.1; }; };\n" % self.stats_port)
        with open(os.path.join(self.dir, "named.conf"), "w") as f:
            f.write(conf)

    def start(self):
        self.write_config()
        super().start()
        wait_for(lambda: self._ready(), START_TIMEOUT, "named (resolver)")
        return self

    def _ready(self):
        self.check_alive()
        return dns_answers(self.addr, self.port, "example.com.", "SOA")

    def stats(self):
        """The nsstats counters of the JSON statistics channel."""
        code, body = http_get("http://127.0.0.1:%d/json/v1/server"
                              % self.stats_port)
        if code != 200:
            raise RuntimeError("BIND statistics channel answered %d" % code)
        return json.loads(body).get("nsstats", {})

    def answered(self):
        """(requests received, responses sent) from nsstats."""
        s = self.stats()
        return (s.get("Requestv4", 0) + s.get("Requestv6", 0),
                s.get("Response", 0))


class Dnsdist(Process):
    """dnsdist in front of a backend, logging dnstap for every query and
    every backend response.  dnstap is a unix socket path or
    ("tcp", host, port).  Optional DoT and DoH listeners use a
    self-signed certificate made with openssl.  Statistics come from the
    web server's /jsonstat API."""

    API_KEY = "system-test-key"

    def __init__(self, workdir, backend, dnstap=None, tls=False,
                 name="dnsdist"):
        self.dir = os.path.join(workdir, name)
        os.makedirs(self.dir, exist_ok=True)
        self.backend = backend  # (host, port)
        self.dnstap = dnstap
        self.addr = "127.0.0.1"
        self.port = free_port(also_v6=True)
        self.web_port = free_port()
        self.tls = tls
        self.dot_port = free_port() if tls else None
        self.doh_port = free_port() if tls else None
        self.conf = os.path.join(self.dir, "dnsdist.conf")
        super().__init__(name, [which("dnsdist"), "--supervised",
                                "--disable-syslog", "-C", self.conf],
                         self.dir)

    def write_config(self):
        lines = ['setSecurityPollSuffix("")',
                 'setLocal("127.0.0.1:%d")' % self.port,
                 'addLocal("[::1]:%d")' % self.port,
                 'newServer({address="%s:%d", checkInterval=3600})'
                 % self.backend,
                 'webserver("127.0.0.1:%d")' % self.web_port,
                 'setWebserverConfig({apiKey="%s", password="%s", '
                 'acl="127.0.0.0/8"})' % (self.API_KEY, self.API_KEY)]
        if self.tls:
            lines += self._tls_lines()
        if self.dnstap:
            lines += self._dnstap_lines()
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")

    def _tls_lines(self):
        cert, key = make_cert(self.dir)
        return ['addTLSLocal("127.0.0.1:%d", "%s", "%s")'
                % (self.dot_port, cert, key),
                'addDOHLocal("127.0.0.1:%d", "%s", "%s", "/dns-query")'
                % (self.doh_port, cert, key)]

    def _dnstap_lines(self):
        # libfstrm's default input queue (512 frames) overflows, and
        # dnsdist drops frames silently, when a burst meets a busy CPU:
        # the largest queue it allows keeps the counts exact.
        opts = "{inputQueueSize=16384}"
        if isinstance(self.dnstap, tuple):
            logger = 'newFrameStreamTcpLogger("%s:%d", %s)' % (
                self.dnstap[1], self.dnstap[2], opts)
        else:
            logger = 'newFrameStreamUnixLogger("%s", %s)' % (self.dnstap,
                                                              opts)
        return ["fsl = " + logger,
                'addAction(AllRule(), DnstapLogAction("dnsdist-test", '
                'fsl))',
                'addResponseAction(AllRule(), '
                'DnstapLogResponseAction("dnsdist-test", fsl))']

    def start(self):
        self.write_config()
        super().start()
        wait_for(lambda: self._ready(), START_TIMEOUT, "dnsdist")
        return self

    def _ready(self):
        self.check_alive()
        return dns_answers(self.addr, self.port, "example.com.", "SOA")

    def stats(self):
        code, body = http_get(
            "http://127.0.0.1:%d/jsonstat?command=stats" % self.web_port,
            headers={"X-API-Key": self.API_KEY})
        if code != 200:
            raise RuntimeError("dnsdist API answered %d" % code)
        return json.loads(body)

    def answered(self):
        """(queries received, responses relayed from the backend)."""
        s = self.stats()
        return int(s["queries"]), int(s["responses"])


def make_cert(directory):
    """A self-signed certificate for 127.0.0.1; returns (cert, key)."""
    cert = os.path.join(directory, "cert.pem")
    key = os.path.join(directory, "key.pem")
    if not os.path.exists(cert):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                        "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                        "-keyout", key, "-out", cert],
                       check=True, capture_output=True)
    return cert, key


# ------------------------------------------------------- dnstap plumbing

class FstrmCapture(Process):
    """fstrm_capture recording one dnstap stream into a file.

    The file is complete only after the sender has gone (fstrm_capture
    then writes the STOP frame); stop() waits for that before
    signalling."""

    def __init__(self, workdir, path, socket_path=None, tcp_port=None,
                 name="fstrm"):
        self.path = path
        self.socket_path = socket_path
        self.tcp_port = tcp_port
        argv = [which("fstrm_capture"), "-t", CONTENT_TYPE, "-w", path]
        if socket_path:
            argv += ["-u", socket_path]
        else:
            argv += ["-a", "127.0.0.1", "-p", str(tcp_port)]
        super().__init__(name, argv, workdir)

    def start(self):
        super().start()
        if self.socket_path:
            wait_for(lambda: self._listening_unix(), START_TIMEOUT,
                     "fstrm_capture socket")
        else:
            wait_for(lambda: self._listening_tcp(), START_TIMEOUT,
                     "fstrm_capture port")
        return self

    def _listening_unix(self):
        self.check_alive()
        return os.path.exists(self.socket_path)

    def _listening_tcp(self):
        self.check_alive()
        return not port_free("127.0.0.1", self.tcp_port)

    def connected(self):
        if self.socket_path:
            return unix_socket_connected(self.socket_path)
        return tcp_connected(self.tcp_port)

    def finish(self):
        """Wait for the sender to go, then stop; returns the file path."""
        try:
            wait_for(lambda: not self.connected(), STOP_TIMEOUT,
                     "dnstap sender to disconnect from fstrm_capture")
        finally:
            time.sleep(0.5)
            self.stop(signal.SIGINT)
        return self.path


def dnstap_replay(path, socket_path=None, tcp=None, timeout=60):
    """Send a dnstap file into a socket with the Go dnstap CLI."""
    argv = [which("dnstap"), "-r", path]
    if socket_path:
        argv += ["-U", socket_path]
    else:
        argv += ["-T", "%s:%d" % tcp]
    return subprocess.run(argv, capture_output=True, text=True,
                          timeout=timeout)


# ------------------------------------------------------------- the daemon

DEFAULT_CONFIG = """apiVersion: security.ugallu.io/v1alpha1
kind: DNSDetectConfig
metadata:
  name: default
spec:
  source:
    mode: %(mode)s
  detectors:
%(detectors)s"""

DEFAULT_DETECTORS = """    blocklist:
      enabled: false
    dga:
      enabled: true
    doh:
      enabled: true
    anomalousPort:
      enabled: true
"""


DETECTORS = ("blocklist", "dga", "tunneling", "exfiltration", "doh", "dot",
             "anomalousPort", "youngDomain", "slowQuery")


def only_detectors(**on):
    """A detectors block for write_config() with only the detectors named
    enabled, each with its settings (a dict of YAML scalars)."""
    lines = []
    for name in DETECTORS:
        settings = on.get(name)
        lines.append("    %s:" % name)
        lines.append("      enabled: %s" % ("false" if settings is None
                                             else "true"))
        lines += ["      %s: %s" % kv for kv in (settings or {}).items()]
    return "\n".join(lines) + "\n"


def write_config(directory, mode="dnstap", detectors=DEFAULT_DETECTORS,
                 name="config.yaml"):
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        f.write(DEFAULT_CONFIG % dict(mode=mode, detectors=detectors))
    return path


SUMMARY_RE = re.compile(r'(\w+)=("[^"]*"|\S+)')


def parse_summary(stderr_text):
    """The last `key=value` line of the daemon's stderr that carries
    messages=, as a dict (numbers as int)."""
    for line in reversed(stderr_text.splitlines()):
        if "messages=" in line and "events=" in line:
            out = {}
            for k, v in SUMMARY_RE.findall(line):
                v = v.strip('"')
                out[k] = int(v) if v.isdigit() else v
            return out
    return None


def read_jsonl(path):
    """Every JSON object of a JSON-lines file (blank lines skipped)."""
    out = []
    if not os.path.exists(path):
        return out
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                out.append(json.loads(line))
    return out


class Daemon(Process):
    """ugallu-dns-detect in standalone mode on a live source.

    source is ("unix", path), ("tcp", host, port), ("iface", name) or
    ("coredns", "host:port", token_file) for the ugallu CoreDNS plugin, or
    ("tetragon", socket_path).
    Events go to events.jsonl, findings to findings.jsonl in workdir.
    """

    def __init__(self, workdir, source, config=None, name="daemon",
                 extra_args=()):
        self.dir = os.path.join(workdir, name)
        os.makedirs(self.dir, exist_ok=True)
        self.source = source
        self.config = config or write_config(self.dir)
        self.events_path = os.path.join(self.dir, "events.jsonl")
        self.findings_path = os.path.join(self.dir, "findings.jsonl")
        self.metrics_port = free_port()
        self.health_port = free_port()
        # From the project root: the daemon finds its data files (the
        # DGA model, the DoH lists) by paths relative to it.
        super().__init__(name, self._argv(extra_args), self.dir, cwd=ROOT)

    def _argv(self, extra_args):
        argv = [daemon_binary(), "--standalone", "--config", self.config,
                "--events-out", self.events_path,
                "--output", self.findings_path,
                "--metrics-bind-address",
                "127.0.0.1:%d" % self.metrics_port,
                "--health-probe-bind-address",
                "127.0.0.1:%d" % self.health_port,
                "--log-level", "info"]
        kind = self.source[0]
        if kind == "unix":
            argv += ["--dnstap-socket", self.source[1]]
        elif kind == "tcp":
            argv += ["--dnstap-tcp", "%s:%d" % self.source[1:]]
        elif kind == "tetragon":
            argv += ["--tetragon-socket", self.source[1]]
        elif kind == "coredns":
            argv += ["--coredns-endpoint", self.source[1],
                     "--coredns-token-file", self.source[2],
                     "--coredns-insecure", "--node-name", "node-a"]
        else:
            argv += ["--interface", self.source[1]]
        return argv + list(extra_args)

    def start(self):
        super().start()
        wait_for(lambda: self._ready(), START_TIMEOUT, "daemon /readyz")
        return self

    def _ready(self):
        self.check_alive()
        code, _ = http_get("http://127.0.0.1:%d/readyz" % self.health_port,
                           timeout=1)
        if code != 200:
            return False
        if self.source[0] == "unix":
            return os.path.exists(self.source[1])
        return True

    def connected(self):
        if self.source[0] == "unix":
            return unix_socket_connected(self.source[1])
        return tcp_connected(self.source[2])

    def wait_connected(self, timeout=START_TIMEOUT):
        """Wait for a dnstap sender to connect, then let it settle."""
        wait_for(self.connected, timeout, "a dnstap sender to connect")
        time.sleep(DNSTAP_SETTLE)

    def metrics_text(self):
        code, body = http_get("http://127.0.0.1:%d/metrics"
                              % self.metrics_port)
        if code != 200:
            raise RuntimeError("/metrics answered %d" % code)
        return body

    def metrics(self):
        return parse_metrics(self.metrics_text())

    def health(self, path="/healthz"):
        return http_get("http://127.0.0.1:%d%s" % (self.health_port,
                                                    path))[0]

    def terminate(self):
        """SIGTERM; returns (exit code, summary dict or None)."""
        rc = self.stop(signal.SIGTERM)
        return rc, parse_summary(self.log_text())

    def events(self):
        return read_jsonl(self.events_path)

    def findings(self):
        return read_jsonl(self.findings_path)


METRIC_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)')
LABEL_RE = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """Prometheus text format as {(name, frozenset(labels)): value}."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = METRIC_RE.match(line)
        if not m:
            continue
        labels = frozenset(LABEL_RE.findall(m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def metric(metrics, name, **labels):
    """The value of one series, 0 when absent."""
    return metrics.get((name, frozenset(labels.items())), 0.0)


def metric_family(metrics, name):
    """{labels dict as sorted tuple: value} for every series of name."""
    return {tuple(sorted(k[1])): v for k, v in metrics.items()
            if k[0] == name}


def replay(path, events_out=None, config=None, workdir=None, timeout=300,
           extra_args=()):
    """Run the daemon with --replay on a capture.  Returns
    (CompletedProcess, summary dict or None, findings list)."""
    workdir = workdir or os.path.dirname(path)
    config = config or write_config(workdir, name="replay-config.yaml")
    argv = [daemon_binary(), "--standalone", "--config", config,
            "--replay", path, "--log-level", "info"]
    if events_out:
        argv += ["--events-out", events_out]
    argv += list(extra_args)
    proc = subprocess.run(argv, capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)
    findings = [json.loads(x) for x in proc.stdout.splitlines()
                if x.strip().startswith("{")]
    return proc, parse_summary(proc.stderr), findings


# -------------------------------------------------------------- clients

def dig(server, port, name, qtype="A", tcp=False, extra=()):
    """One dig query; returns its stdout."""
    argv = [which("dig"), "@" + server, "-p", str(port), name, qtype,
            "+tries=1", "+time=3"]
    if tcp:
        argv.append("+tcp")
    argv += list(extra)
    return subprocess.run(argv, capture_output=True, text=True,
                          timeout=30).stdout


DNSPERF_RE = re.compile(r"Queries (sent|completed|lost):\s+(\d+)")


def dnsperf(server, port, queries, workdir, mode="udp", qps=None,
            clients=1, timeout=5, name="dnsperf", extra=()):
    """Send every (name, type) of queries once with dnsperf.  Returns
    {'sent': n, 'completed': n, 'lost': n} from its report."""
    data = os.path.join(workdir, name + ".txt")
    with open(data, "w") as f:
        for qname, qtype in queries:
            f.write("%s %s\n" % (qname, qtype))
    argv = [which("dnsperf"), "-s", server, "-p", str(port), "-d", data,
            "-n", "1", "-m", mode, "-c", str(clients), "-t", str(timeout)]
    if qps:
        argv += ["-Q", str(qps)]
    argv += list(extra)
    proc = subprocess.run(argv, capture_output=True, text=True,
                          timeout=300)
    counts = {k: int(v) for k, v in DNSPERF_RE.findall(proc.stdout)}
    if "sent" not in counts:
        raise RuntimeError("dnsperf failed:\n" + proc.stdout + proc.stderr)
    return counts


class Tcpdump(Process):
    """tcpdump on an interface into a pcap file, packet-buffered."""

    def __init__(self, workdir, path, bpf, iface="lo", name="tcpdump"):
        self.path = path
        # --immediate-mode: without it libpcap hands packets over in
        # blocks up to a second late, and a stop loses the last block.
        super().__init__(name, [which("tcpdump"), "-i", iface, "-n", "-U",
                                "--immediate-mode", "-B", "32768", "-s",
                                "0", "-w", path,
                                bpf], workdir)

    def start(self):
        super().start()
        wait_for(lambda: self._listening(), START_TIMEOUT, "tcpdump")
        time.sleep(0.3)
        return self

    def _listening(self):
        self.check_alive()
        return "listening on" in self.log_text()

    def finish(self):
        """Stop; returns the file path.  self.kernel_dropped is then
        what tcpdump reported as dropped by the kernel."""
        time.sleep(1.0)
        self.stop(signal.SIGINT)
        m = re.search(r"(\d+) packets dropped by kernel", self.log_text())
        self.kernel_dropped = int(m.group(1)) if m else None
        return self.path
