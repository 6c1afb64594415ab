"""Kubernetes mode with the CoreDNS source, on a real control plane.

The daemon runs as the ServiceAccount deploy/rbac grants, with no source
flag: its sources come from the DNSDetectConfig's spec.source.  Real
CoreDNS processes with the ugallu plugin listen on addresses of their
own, all on one plugin port, as CoreDNS pods do on their pod IPs.  The
API server refuses loopback addresses in EndpointSlices, so the test
puts addresses of the benchmarking range 198.18.0.0/15 on the loopback
interface for the run (it needs root; traffic still never leaves lo).
EndpointSlices of a DNS Service, written by the test as the
EndpointSlice controller would, name them.

- Discovery and the token Secret: the daemon dials every address the
  slices list (port from spec.source.corednsPort), with the token it
  reads from Secret ugallu-coredns-grpc-token through the API (there is
  no token file).  A wrong token is refused by the plugin; once the
  Secret is fixed, both streams come up, queries to either CoreDNS raise
  findings, and an endpoint removed from the slices loses its stream.
- Fallback in Kubernetes mode: with no CoreDNS endpoint at all, the
  primary is silent; the daemon raises DNSSourceSilent as a
  SecurityEvent of class Anomaly and as a Warning Event on the
  DNSDetectConfig, switches to its dnstap fallback, and
  status.activeSource says so; when a CoreDNS endpoint appears and
  delivers, it switches back and the status follows.
- A missing DNSDetectConfig is reported as DNSConfigMissing, both as a
  SecurityEvent and as an Event.
- A change of spec.source is followed without a restart: dnstap on one
  socket, then CoreDNS found through the slices, then dnstap on another
  socket; each time the old source stops, the new one delivers findings
  and status.activeSource follows.  A change of the detectors alone
  leaves the sources running, and sources that fail to start give way to
  the previous ones.
"""

import base64
import os
import subprocess
import time

import pytest
import yaml

import dnstap_wire as W
import k8s
import servers as S
from test_cluster import BLOCKLIST, NS, sa_env
from test_coredns_source import TOKEN, coredns_dir

__all__ = ["coredns_dir"]  # the fixture, imported for pytest

SECRET = "ugallu-coredns-grpc-token"


def config(name, service, port, **source):
    src = {"mode": "coredns-ugallu", "corednsService": service,
           "corednsPort": port}
    src.update(source)
    return {
        "apiVersion": "security.ugallu.io/v1alpha1",
        "kind": "DNSDetectConfig",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "source": src,
            "detectors": {
                "blocklist": {
                    "enabled": True,
                    "namespaceConfigMaps": [
                        {"namespace": "ops", "name": "dns-blocklist",
                         "clusterWide": True}],
                },
                "dga": {"enabled": False}, "doh": {"enabled": False},
                "dot": {"enabled": False},
                "anomalousPort": {"enabled": False},
                "tunneling": {"enabled": False},
                "exfiltration": {"enabled": False},
                "slowQuery": {"enabled": False},
            },
        },
    }


def slice_obj(name, service, addrs):
    return {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": name, "namespace": "kube-system",
                     "labels": {"kubernetes.io/service-name": service}},
        "addressType": "IPv4",
        "ports": [{"name": "dns", "port": 53, "protocol": "UDP"}],
        "endpoints": [{"addresses": [a], "conditions": {"ready": True}}
                      for a in addrs],
    }


def token_secret(token):
    return {"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": SECRET, "namespace": NS},
            "data": {"token": base64.b64encode(token.encode()).decode()}}


def apply(cp, *objs):
    cp.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(list(objs)))


POD_IPS = ["198.18.0.%d" % i for i in range(61, 67)]


@pytest.fixture(scope="module")
def pod_ips():
    """Addresses standing in for CoreDNS pod IPs, on lo for the run."""
    added = []
    try:
        for ip in POD_IPS:
            r = subprocess.run(["ip", "addr", "add", ip + "/32", "dev",
                                "lo"], capture_output=True, text=True)
            if r.returncode != 0 and "File exists" not in r.stderr:
                pytest.skip("cannot add addresses to lo (needs root): "
                            + r.stderr.strip())
            added.append(ip)
        yield POD_IPS
    finally:
        for ip in added:
            subprocess.run(["ip", "addr", "del", ip + "/32", "dev", "lo"],
                           capture_output=True)


@pytest.fixture(scope="module")
def cp(tmp_path_factory):
    for cluster in k8s.cluster_fixture(tmp_path_factory):
        cluster.apply_deploy()
        apply(cluster, dict(BLOCKLIST, data={"list.txt":
                                             "bad.example.com\n"}))
        yield cluster


class CoreDNSAt(S.Process):
    """CoreDNS serving example.com. on addr, plugin on addr:grpc_port."""

    def __init__(self, binary, workdir, addr, dns_port, grpc_port):
        name = "coredns-" + addr
        self.addr, self.dns_port, self.grpc_port = addr, dns_port, grpc_port
        zone = os.path.join(workdir, name + ".zone")
        token = os.path.join(workdir, name + ".token")
        conf = os.path.join(workdir, name + ".Corefile")
        with open(zone, "w") as f:
            f.write(S.zone_text("example.com.", S.ZONES["example.com."]))
        with open(token, "w") as f:
            f.write(TOKEN + "\n")
        with open(conf, "w") as f:
            f.write("example.com.:%d {\n bind %s\n ugallu {\n"
                    "  listen %s:%d\n  token_file %s\n }\n file %s\n}\n"
                    % (dns_port, addr, addr, grpc_port, token, zone))
        super().__init__(name, [os.path.join(binary, "coredns"), "-conf",
                                conf], workdir)

    def start(self):
        super().start()
        S.wait_for(lambda: self.check_alive() is None and
                   S.dns_answers(self.addr, self.dns_port, "example.com.")
                   and not S.port_free(self.addr, self.grpc_port),
                   20, "CoreDNS on %s" % self.addr)
        return self

    def ask(self, name, source="127.0.0.1"):
        out = S.dig(self.addr, self.dns_port, name, extra=["-b", source])
        assert "status: " in out, out


class Daemon(S.Process):
    """The daemon in Kubernetes mode with no source flag."""

    def __init__(self, workdir, name, env, config_name, extra=()):
        d = os.path.join(workdir, name)
        os.makedirs(d, exist_ok=True)
        self.metrics_port = S.free_port()
        self.health_port = S.free_port()
        self.findings_path = os.path.join(d, "findings.jsonl")
        argv = [S.daemon_binary(), "--node-name", name,
                "--config-name", config_name,
                "--coredns-insecure",
                "--coredns-token-file", os.path.join(d, "no-such-file"),
                "--forward-bind-address", "127.0.0.1:%d" % S.free_port(),
                "--metrics-bind-address", "127.0.0.1:%d" % self.metrics_port,
                "--health-probe-bind-address",
                "127.0.0.1:%d" % self.health_port,
                "--leader-lease-duration", "3s",
                "--leader-renew-deadline", "2s",
                "--leader-retry-period", "500ms",
                "--resync-period", "1s", "--cluster-name", "test",
                "--output", self.findings_path, "--log-level", "info"]
        super().__init__(name, argv + list(extra), d, env=env, cwd=S.ROOT)

    def start(self):
        super().start()
        S.wait_for(self._ready, S.START_TIMEOUT, self.name + " /readyz")
        return self

    def _ready(self):
        self.check_alive()
        code, _ = S.http_get("http://127.0.0.1:%d/readyz"
                             % self.health_port, timeout=1)
        return code == 200

    def metrics(self):
        code, body = S.http_get("http://127.0.0.1:%d/metrics"
                                % self.metrics_port)
        return S.parse_metrics(body) if code == 200 else {}

    def m(self, name, **labels):
        return S.metric(self.metrics(), name, **labels)

    def findings(self):
        return S.read_jsonl(self.findings_path)


def streams_up(d):
    return d.m("ugallu_dns_source_connected", source="coredns-ugallu")


def blocked_clients(d):
    return {f["spec"]["subject"]["name"] for f in d.findings()
            if f["spec"]["type"] == "DNSToBlocklistedFQDN"}


def test_discovers_every_coredns_with_the_secret_token(cp, coredns_dir,
                                                       pod_ips, workdir,
                                                       procs):
    grpc_port = S.free_port()
    cds = [CoreDNSAt(coredns_dir, workdir, addr, S.free_port(), grpc_port)
           for addr in pod_ips[:2]]
    for cd in cds:
        procs.append(cd)
        cd.start()
    apply(cp, token_secret("not-the-token"),
          config("disc", "kube-system/kube-dns", grpc_port),
          slice_obj("kube-dns-a", "kube-dns", [pod_ips[0]]),
          slice_obj("kube-dns-b", "kube-dns", [pod_ips[1]]),
          slice_obj("other-svc", "other", [pod_ips[2]]))

    d = Daemon(workdir, "node-disc", sa_env(cp, workdir), "disc")
    procs.append(d)
    d.start()
    # The Secret's token is used (there is no token file) and refused.
    S.wait_for(lambda: d.m("ugallu_dns_coredns_auth_failures_total") >= 2,
               20, "the plugins refusing the wrong token")
    assert streams_up(d) == 0
    t0 = time.monotonic()
    apply(cp, token_secret(TOKEN))
    S.wait_for(lambda: streams_up(d) == 2, 40, "both streams up")
    print("streams up %.1f s after the Secret was fixed"
          % (time.monotonic() - t0))
    log = d.log_text()
    assert pod_ips[2] not in log  # another Service's slice
    assert "CoreDNS endpoints" in log and "CoreDNS token read" in log

    # Each CoreDNS's queries reach the daemon and raise findings.
    cds[0].ask("bad.example.com.", source="127.0.0.71")
    cds[1].ask("bad.example.com.", source="127.0.0.72")
    S.wait_for(lambda: blocked_clients(d) == {"127.0.0.71", "127.0.0.72"},
               15, "a finding through each CoreDNS")

    # An endpoint gone from the slices loses its stream.
    cp.kubectl("-n", "kube-system", "delete", "endpointslice", "kube-dns-b")
    S.wait_for(lambda: streams_up(d) == 1, 15, "one stream left")
    d.check_alive()


def status_of(cp, name):
    obj = cp.get_json("-n", NS, "dnsdetectconfig", name)
    return obj.get("status", {})


def anomalies(cp, type_):
    return [se for se in cp.get_json("securityevents")["items"]
            if se["spec"]["type"] == type_]


def events_with(cp, reason, obj_name):
    return [e for e in cp.get_json("-n", NS, "events")["items"]
            if e.get("reason") == reason and
            e["involvedObject"].get("name") == obj_name]


def test_fallback_in_cluster_mode(cp, coredns_dir, pod_ips, workdir,
                                  procs):
    grpc_port = S.free_port()
    fb_sock = os.path.join(workdir, "fallback.sock")
    apply(cp, token_secret(TOKEN),
          config("fb", "kube-system/dns-fb", grpc_port, fallback="dnstap",
                 dnstapSocket=fb_sock))
    d = Daemon(workdir, "node-fb", sa_env(cp, workdir), "fb",
               extra=["--source-silence", "2s"])
    procs.append(d)
    d.start()

    # No CoreDNS endpoint: silent primary, fallback, both reported.
    S.wait_for(lambda: status_of(cp, "fb").get("activeSource") == "dnstap",
               30, "status.activeSource dnstap")
    assert os.path.exists(fb_sock)
    S.wait_for(lambda: anomalies(cp, "DNSSourceSilent"), 15,
               "a DNSSourceSilent SecurityEvent")
    se = anomalies(cp, "DNSSourceSilent")[0]["spec"]
    assert se["class"] == "Anomaly"
    assert se["signals"]["reason"] == "coredns-ugallu"
    S.wait_for(lambda: events_with(cp, "DNSSourceSilent", "fb"), 15,
               "a DNSSourceSilent Event on the DNSDetectConfig")
    ev = events_with(cp, "DNSSourceSilent", "fb")[0]
    assert ev["type"] == "Warning"
    assert ev["involvedObject"]["kind"] == "DNSDetectConfig"

    # CoreDNS appears in the slices and delivers: back to the primary.
    cd = CoreDNSAt(coredns_dir, workdir, pod_ips[3], S.free_port(),
                   grpc_port)
    procs.append(cd)
    cd.start()
    apply(cp, slice_obj("dns-fb-1", "dns-fb", [pod_ips[3]]))
    S.wait_for(lambda: streams_up(d) == 1, 40, "the CoreDNS stream")

    def back():
        cd.ask("www.example.com.")
        return status_of(cp, "fb").get("activeSource") == "coredns-ugallu"
    S.wait_for(back, 30, "status.activeSource back to coredns-ugallu",
               interval=0.5)
    assert not os.path.exists(fb_sock)
    assert d.m("ugallu_dns_source_switches_total", to="coredns-ugallu") >= 1
    d.check_alive()


def test_missing_config_is_an_anomaly(cp, workdir, procs):
    d = Daemon(workdir, "node-miss", sa_env(cp, workdir), "absent",
               extra=["--dnstap-socket", os.path.join(workdir, "m.sock")])
    procs.append(d)
    d.start()
    S.wait_for(lambda: anomalies(cp, "DNSConfigMissing"), 30,
               "a DNSConfigMissing SecurityEvent")
    se = anomalies(cp, "DNSConfigMissing")[0]["spec"]
    assert se["class"] == "Anomaly"
    assert "absent" in se["signals"]["message"]
    S.wait_for(lambda: events_with(cp, "DNSConfigMissing", "absent"), 15,
               "a DNSConfigMissing Event")
    d.check_alive()


def dnstap_query(sock_path, name, client):
    """One query and its answer from client, sent as dnstap to sock_path."""
    sender = W.Sender(sock_path).handshake()
    for frame in W.exchange(7, name, client, 31000):
        sender.send(frame)
    sender.finish()


def restarts(d):
    return d.log_text().count("spec.source changed")


def test_source_change_followed_live(cp, coredns_dir, pod_ips, workdir,
                                     procs):
    grpc_port = S.free_port()
    sock1 = os.path.join(workdir, "one.sock")
    sock2 = os.path.join(workdir, "two.sock")
    dnstap1 = config("live", "kube-system/dns-live", grpc_port,
                     mode="dnstap", dnstapSocket=sock1)
    apply(cp, token_secret(TOKEN), dnstap1)
    d = Daemon(workdir, "node-live", sa_env(cp, workdir), "live")
    procs.append(d)
    d.start()
    S.wait_for(lambda: status_of(cp, "live").get("activeSource") ==
               "dnstap", 30, "status.activeSource dnstap")
    dnstap_query(sock1, "bad.example.com", "127.0.0.81")
    S.wait_for(lambda: "127.0.0.81" in blocked_clients(d), 15,
               "a finding through the first socket")

    # A change of the detectors alone: the sources keep running.
    changed = config("live", "kube-system/dns-live", grpc_port,
                     mode="dnstap", dnstapSocket=sock1)
    changed["spec"]["detectors"]["doh"] = {"enabled": True}
    apply(cp, changed)
    S.wait_for(lambda: status_of(cp, "live").get("detectors", {})
               .get("doh", {}).get("enabled") is True, 15, "doh applied")
    time.sleep(2.0)
    assert restarts(d) == 0

    # To CoreDNS, found through the slices of another Service.
    cd = CoreDNSAt(coredns_dir, workdir, pod_ips[4], S.free_port(),
                   grpc_port)
    procs.append(cd)
    cd.start()
    apply(cp, slice_obj("dns-live-1", "dns-live", [pod_ips[4]]))
    t0 = time.monotonic()
    apply(cp, config("live", "kube-system/dns-live", grpc_port))
    S.wait_for(lambda: streams_up(d) == 1, 30, "the CoreDNS stream")
    print("CoreDNS stream up %.2f s after the change"
          % (time.monotonic() - t0))
    S.wait_for(lambda: not os.path.exists(sock1), 10,
               "the first socket gone")
    cd.ask("bad.example.com.", source="127.0.0.82")
    S.wait_for(lambda: "127.0.0.82" in blocked_clients(d), 15,
               "a finding through CoreDNS")
    S.wait_for(lambda: status_of(cp, "live").get("activeSource") ==
               "coredns-ugallu", 15, "status.activeSource coredns-ugallu")
    assert d.m("ugallu_dns_source_active", source="dnstap") == 0

    # Back to dnstap, on another socket: the stream closes.
    t0 = time.monotonic()
    apply(cp, config("live", "kube-system/dns-live", grpc_port,
                     mode="dnstap", dnstapSocket=sock2))
    S.wait_for(lambda: os.path.exists(sock2), 15, "the second socket")
    print("second socket up %.2f s after the change"
          % (time.monotonic() - t0))
    S.wait_for(lambda: streams_up(d) == 0, 15, "the CoreDNS stream closed")
    dnstap_query(sock2, "bad.example.com", "127.0.0.83")
    S.wait_for(lambda: "127.0.0.83" in blocked_clients(d), 15,
               "a finding through the second socket")
    S.wait_for(lambda: status_of(cp, "live").get("activeSource") ==
               "dnstap", 15, "status.activeSource dnstap again")

    # Sources that cannot start (a socket in a missing directory): the
    # second socket comes back and keeps delivering.
    apply(cp, config("live", "kube-system/dns-live", grpc_port,
                     mode="dnstap",
                     dnstapSocket=os.path.join(workdir, "no", "x.sock")))
    S.wait_for(lambda: "previous ones come back" in d.log_text(), 15,
               "the failed change logged")
    S.wait_for(lambda: os.path.exists(sock2), 10, "the second socket back")
    dnstap_query(sock2, "bad.example.com", "127.0.0.84")
    S.wait_for(lambda: "127.0.0.84" in blocked_clients(d), 15,
               "a finding after the failed change")
    assert restarts(d) == 3
    d.check_alive()
