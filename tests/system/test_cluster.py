"""Kubernetes mode (no --standalone) against a real control plane.

Three daemons play three nodes of a DaemonSet: each has its own
--node-name, dnstap socket and forward port, and all of them run as the
ServiceAccount deploy/rbac grants, in the in-cluster layout
(UGALLU_SA_DIR with token, ca.crt and namespace, plus
KUBERNETES_SERVICE_HOST/PORT), so a missing permission fails the test.
Leader election runs with short timings (3 s lease, 2 s renew deadline,
0.5 s retry).  The test checks, in order:
- exactly one leader, per the Lease and per ugallu_dns_leader;
- a blocklisted query on each node (the list comes from a ConfigMap the
  DNSDetectConfig names) becomes exactly one SecurityEvent, created by
  the leader (non-leaders forward theirs);
- kill -9 of the leader: another node takes the Lease within the lease
  duration (plus a retry period), and findings raised on the survivors
  afterwards, and those the old leader had already created, are each
  there once;
- the DNSDetectConfig's status (observedGeneration, lastConfigLoadAt,
  activeSource, Ready) is written and follows a spec change, and that
  change (blocklist disabled) stops new findings within seconds;
- SIGTERM on a leader releases the Lease: another node leads at once.
Timings are printed (pytest -s shows them).

A second test starts a daemon whose DNSDetectConfig does not exist yet
(DNSConfigMissing, every resync period), then creates it with a list
file that cannot load (rejected: log, InvalidConfig Event, Ready=False)
and then fixes it (applied, Ready=True, findings flow).

A third test posts to a daemon's forward listener as other pods would:
without a token, with a bad one, with another ServiceAccount's and with
its own (only the last is taken).
"""

import base64
import json
import os
import signal
import time
import urllib.parse

import pytest
import yaml

import dnstap_wire as W
import k8s
import servers as S

NS = "ugallu-system"
SA = "ugallu-dns-detect"
LEASE = "ugallu-dns-detect-leader"
LEASE_S, RENEW_S, RETRY_S = 3.0, 2.0, 0.5

CONFIG = {
    "apiVersion": "security.ugallu.io/v1alpha1",
    "kind": "DNSDetectConfig",
    "metadata": {"name": "default", "namespace": NS},
    "spec": {
        "source": {"mode": "dnstap"},
        "detectors": {
            "blocklist": {
                "enabled": True,
                "namespaceConfigMaps": [
                    {"namespace": "ops", "name": "dns-blocklist",
                     "clusterWide": True}],
            },
            "dga": {"enabled": False},
            "doh": {"enabled": False},
            "dot": {"enabled": False},
            "anomalousPort": {"enabled": False},
            "tunneling": {"enabled": False},
            "exfiltration": {"enabled": False},
            "slowQuery": {"enabled": False},
        },
    },
}

BLOCKLIST = {
    "apiVersion": "v1", "kind": "ConfigMap",
    "metadata": {"name": "dns-blocklist", "namespace": "ops"},
    "data": {"list.txt": "evil.test\n"},
}


@pytest.fixture(scope="module")
def cp(tmp_path_factory):
    """A private control plane with deploy/ applied, the config and the
    blocklist ConfigMap in place."""
    for cluster in k8s.cluster_fixture(tmp_path_factory):
        cluster.apply_deploy()
        cluster.kubectl("apply", "-f", "-",
                        input=yaml.safe_dump_all([BLOCKLIST, CONFIG]))
        yield cluster


def sa_env(cp, workdir):
    """Environment of an in-cluster pod running as the ServiceAccount."""
    sa = os.path.join(workdir, "sa")
    os.makedirs(sa, exist_ok=True)
    token = cp.kubectl("create", "token", SA, "-n", NS,
                       "--duration=2h").stdout.strip()
    with open(os.path.join(sa, "token"), "w") as f:
        f.write(token)
    with open(os.path.join(cp.dir, "pki", "ca.crt")) as src, \
            open(os.path.join(sa, "ca.crt"), "w") as dst:
        dst.write(src.read())
    with open(os.path.join(sa, "namespace"), "w") as f:
        f.write(NS)
    url = urllib.parse.urlparse(cp.server())
    env = dict(os.environ)
    env.update(UGALLU_SA_DIR=sa, KUBERNETES_SERVICE_HOST=url.hostname,
               KUBERNETES_SERVICE_PORT=str(url.port))
    env.pop("KUBECONFIG", None)
    env.pop("POD_IP", None)
    return env


class Node(S.Process):
    """One daemon in Kubernetes mode."""

    def __init__(self, workdir, name, env):
        d = os.path.join(workdir, name)
        os.makedirs(d, exist_ok=True)
        self.node = name
        self.sock = os.path.join(d, "dnstap.sock")
        self.findings_path = os.path.join(d, "findings.jsonl")
        self.fwd_port = S.free_port()
        self.metrics_port = S.free_port()
        self.health_port = S.free_port()
        self.client = None
        self.n = 0
        argv = [S.daemon_binary(), "--node-name", name,
                "--dnstap-socket", self.sock,
                "--forward-bind-address", "127.0.0.1:%d" % self.fwd_port,
                "--metrics-bind-address", "127.0.0.1:%d" % self.metrics_port,
                "--health-probe-bind-address",
                "127.0.0.1:%d" % self.health_port,
                "--leader-lease-duration", "%gs" % LEASE_S,
                "--leader-renew-deadline", "%gs" % RENEW_S,
                "--leader-retry-period", "%dms" % (RETRY_S * 1000),
                "--resync-period", "1s", "--cluster-name", "test",
                "--output", self.findings_path, "--log-level", "info"]
        super().__init__(name, argv, d, env=env, cwd=S.ROOT)

    def start(self):
        super().start()
        S.wait_for(self._ready, S.START_TIMEOUT, self.node + " /readyz")
        self.client = W.Sender(self.sock).handshake()
        time.sleep(0.3)
        return self

    def _ready(self):
        self.check_alive()
        code, _ = S.http_get("http://127.0.0.1:%d/readyz"
                             % self.health_port, timeout=1)
        return code == 200 and os.path.exists(self.sock)

    def metrics(self):
        code, body = S.http_get("http://127.0.0.1:%d/metrics"
                                % self.metrics_port)
        return S.parse_metrics(body) if code == 200 else {}

    def leader(self):
        return S.metric(self.metrics(), "ugallu_dns_leader") == 1

    def ask(self, name, client):
        """One query/response pair for name from client over dnstap."""
        self.n += 1
        for frame in W.exchange(self.n, name, client, 30000 + self.n):
            self.client.send(frame)

    def findings(self):
        if not os.path.exists(self.findings_path):
            return []
        with open(self.findings_path) as f:
            return [json.loads(line) for line in f if line.strip()]


def lease_holder(cp):
    r = cp.kubectl("get", "lease", LEASE, "-n", NS, "-o", "json",
                   check=False)
    if r.returncode != 0:
        return None
    return json.loads(r.stdout)["spec"].get("holderIdentity", "")


def security_events(cp):
    return cp.get_json("securityevents")["items"]


def by_subject(items):
    """{client IP: [names]} of the blocklist SecurityEvents."""
    out = {}
    for se in items:
        spec = se["spec"]
        if spec.get("type") != "DNSToBlocklistedFQDN":
            continue
        out.setdefault(spec["subject"]["name"], []).append(
            se["metadata"]["name"])
    return out


def wait_leader(cp, nodes, timeout):
    """The one node the Lease and the metrics agree on; fails after
    timeout."""
    found = []

    def one():
        holder = lease_holder(cp) or ""
        leaders = [n for n in nodes if n.alive() and n.leader()]
        found[:] = leaders
        return (len(leaders) == 1 and
                holder.startswith(leaders[0].node + "-"))
    S.wait_for(one, timeout, "exactly one leader", interval=0.1)
    return found[0]


def wait_events(cp, clients, timeout=20):
    """Wait until every client IP has its SecurityEvent; return the map."""
    seen = {}

    def all_there():
        seen.clear()
        seen.update(by_subject(security_events(cp)))
        return all(c in seen for c in clients)
    S.wait_for(all_there, timeout, "SecurityEvents for %s" % clients,
               interval=0.2)
    return seen


def config_status(cp):
    return cp.get_json("dnsdetectconfig", "default", "-n", NS).get(
        "status", {})


def change_config(cp, nodes, detectors, timeout=10):
    """Merge-patch spec.detectors of config "default", wait until every
    node applied the new generation and the status reports it; returns
    the seconds the nodes took."""
    t0 = time.monotonic()
    cp.kubectl("patch", "dnsdetectconfig", "default", "-n", NS,
               "--type", "merge", "-p",
               json.dumps({"spec": {"detectors": detectors}}))
    gen = cp.get_json("dnsdetectconfig", "default",
                      "-n", NS)["metadata"]["generation"]
    S.wait_for(lambda: all(
        'DNSDetectConfig applied" name=%s/default generation=%d' % (NS, gen)
        in n.log_text() for n in nodes), timeout, "new config applied")
    took = time.monotonic() - t0
    S.wait_for(lambda: config_status(cp).get("observedGeneration") == gen,
               10, "status follows the change")
    return took


def test_cluster_mode(cp, daemon_bin, workdir, procs):
    env = sa_env(cp, workdir)
    nodes = []
    for name in ("node-a", "node-b", "node-c"):
        n = Node(workdir, name, env)
        procs.append(n)
        nodes.append(n.start())

    # 1. Exactly one leader, and it stays so.
    t0 = time.monotonic()
    leader = wait_leader(cp, nodes, LEASE_S * 3)
    print("\nleader %s elected in %.2fs" % (leader.node,
                                            time.monotonic() - t0))
    time.sleep(RETRY_S * 3)
    assert sum(n.leader() for n in nodes) == 1

    # The config is applied everywhere (the watch), status written.
    S.wait_for(lambda: all("DNSDetectConfig applied" in n.log_text()
                           for n in nodes), 10, "config applied")
    S.wait_for(lambda: all("blocklist ConfigMap fed" in n.log_text()
                           for n in nodes), 10, "ConfigMap fed")

    # 2. A blocklisted query on each node: one SecurityEvent each.
    t0 = time.monotonic()
    first = {}
    for i, n in enumerate(nodes):
        ip = "127.0.1.%d" % (i + 1)
        n.ask("x%d.evil.test" % i, ip)
        first[ip] = n
    seen = wait_events(cp, first)
    print("dispatch: 3 findings on 3 nodes in the cluster in %.2fs"
          % (time.monotonic() - t0))
    for ip in first:
        assert len(seen[ip]) == 1, seen
    local = {f["metadata"]["name"] for n in nodes for f in n.findings()}
    assert {seen[ip][0] for ip in first} <= local
    m = leader.metrics()
    assert S.metric(m, "ugallu_dns_securityevent_writes_total",
                    sink="apiserver", outcome="created") >= 3
    others = [n for n in nodes if n is not leader]
    assert all(S.metric(n.metrics(), "ugallu_dns_findings_forwarded_total",
                        outcome="ok") >= 1 for n in others)

    # 3. kill -9 the leader: another takes over within the lease.
    old = leader
    t_kill = time.monotonic()
    os.kill(old.pid, signal.SIGKILL)
    old.proc.wait()
    survivors = [n for n in nodes if n is not old]
    leader = wait_leader(cp, survivors, LEASE_S + RETRY_S * 4 + 2)
    took = time.monotonic() - t_kill
    print("failover after kill -9: %s leads after %.2fs" % (leader.node,
                                                            took))
    assert took <= LEASE_S + RETRY_S * 4 + 1

    # Findings raised right after the kill (maybe still before the new
    # leader is known) and after it all land once.
    second = {}
    for i, n in enumerate(survivors):
        ip = "127.0.2.%d" % (i + 1)
        n.ask("y%d.evil.test" % i, ip)
        second[ip] = n
    t0 = time.monotonic()
    seen = wait_events(cp, list(first) + list(second), timeout=30)
    print("dispatch after failover in %.2fs" % (time.monotonic() - t0))
    for ip in list(first) + list(second):
        assert len(seen[ip]) == 1, seen

    # 4. Status is written by the leader and is fresh.
    def status_ok():
        st = config_status(cp)
        gen = cp.get_json("dnsdetectconfig", "default",
                          "-n", NS)["metadata"]["generation"]
        return (st.get("observedGeneration") == gen and
                st.get("activeSource") == "dnstap" and
                st.get("lastConfigLoadAt") and
                any(c["type"] == "Ready" and c["status"] == "True"
                    for c in st.get("conditions", [])) and
                st["detectors"]["blocklist"]["enabled"] is True and
                # The new leader's own count (it raised two).
                st["detectors"]["blocklist"]["fires"] >= 2)
    S.wait_for(status_ok, 10, "status written")

    # 5. Blocklist disabled in the cluster: new queries raise nothing.
    took = change_config(cp, survivors, {"blocklist": {"enabled": False}})
    print("config change applied on every node in %.2fs" % took)
    assert config_status(cp)["detectors"]["blocklist"]["enabled"] is False
    before = len(security_events(cp))
    for i, n in enumerate(survivors):
        n.ask("z%d.evil.test" % i, "127.0.3.%d" % (i + 1))
    time.sleep(2.0)
    assert len(security_events(cp)) == before
    assert not any("127.0.3." in json.dumps(f)
                   for n in survivors for f in n.findings())

    # 6. SIGTERM on the leader releases the Lease: quick takeover.
    old = leader
    t0 = time.monotonic()
    assert old.stop(signal.SIGTERM) == 0
    assert "lease released" in old.log_text()
    rest = [n for n in survivors if n is not old]
    leader = wait_leader(cp, rest, LEASE_S)
    took = time.monotonic() - t0
    print("handover after SIGTERM: %s leads after %.2fs" % (leader.node,
                                                            took))
    assert took < LEASE_S

    for n in rest:
        assert n.alive()
        assert n.stop(signal.SIGTERM) == 0
    assert lease_holder(cp) == ""


def test_missing_then_invalid_config(cp, daemon_bin, workdir, procs):
    """A config that is not there yet is waited for; one the daemon
    cannot load is reported as an InvalidConfig Event and in status, and
    the configuration in force stays until a good one comes."""
    env = sa_env(cp, workdir)
    name = "later"
    node = Node(workdir, "node-m", env)
    node.argv += ["--config-name", name]
    procs.append(node)
    node.start()
    S.wait_for(lambda: node.log_text().count("DNSConfigMissing") >= 2, 5,
               "DNSConfigMissing logged every resync period")
    wait_leader(cp, [node], LEASE_S * 2)

    bad = json.loads(json.dumps(CONFIG))
    bad["metadata"]["name"] = name
    bad["spec"]["detectors"]["blocklist"]["files"] = ["/nonexistent/list"]
    cp.kubectl("apply", "-f", "-", input=yaml.safe_dump(bad))
    S.wait_for(lambda: "DNSDetectConfig rejected" in node.log_text(), 10,
               "the bad config rejected")
    assert "/nonexistent/list" in node.log_text()

    def event():
        items = cp.get_json("events", "-n", NS)["items"]
        return [e for e in items if e["reason"] == "InvalidConfig" and
                e["involvedObject"]["name"] == name]
    S.wait_for(event, 10, "an InvalidConfig Event")
    ev = event()[0]
    assert ev["type"] == "Warning"
    assert ev["involvedObject"]["kind"] == "DNSDetectConfig"
    assert "/nonexistent/list" in ev["message"]

    def ready(status):
        st = cp.get_json("dnsdetectconfig", name, "-n", NS).get("status",
                                                                 {})
        return any(c["type"] == "Ready" and c["status"] == status
                   for c in st.get("conditions", []))
    S.wait_for(lambda: ready("False"), 10, "Ready=False in status")

    # Fixed: applied, and the ConfigMap list catches.
    cp.kubectl("apply", "-f", "-", input=yaml.safe_dump(
        dict(CONFIG, metadata={"name": name, "namespace": NS})))
    S.wait_for(lambda: "DNSDetectConfig applied" in node.log_text(), 10,
               "the fixed config applied")
    S.wait_for(lambda: ready("True"), 10, "Ready=True in status")
    node.ask("m.evil.test", "127.0.4.1")
    S.wait_for(lambda: "127.0.4.1" in by_subject(security_events(cp)), 10,
               "the finding as a SecurityEvent")
    assert node.stop(signal.SIGTERM) == 0


def test_forward_listener_checks_the_sender(cp, daemon_bin, workdir, procs):
    """The forward listener takes a batch only with a token of the
    daemon's own ServiceAccount, as a TokenReview tells: none is 401,
    another ServiceAccount's is 403 (each counted by reason), its own
    is 200."""
    env = sa_env(cp, workdir)
    node = Node(workdir, "node-fwd", env)
    procs.append(node)
    node.start()
    cp.kubectl("create", "serviceaccount", "someone-else", "-n", NS)
    other = cp.kubectl("create", "token", "someone-else", "-n", NS,
                       "--duration=1h").stdout.strip()
    with open(os.path.join(workdir, "sa", "token")) as f:
        own = f.read().strip()
    url = "http://127.0.0.1:%d/v1/findings" % node.fwd_port
    batch = json.dumps([{"apiVersion": "security.ugallu.io/v1alpha1",
                         "kind": "SecurityEvent",
                         "metadata": {"name": "fwd-auth-test"}}])

    def post(token=None):
        headers = {"Authorization": "Bearer " + token} if token else {}
        return S.http_post(url, batch, headers)[0]

    def refused(reason):
        return S.metric(node.metrics(), "ugallu_dns_forward_refused_total",
                        reason=reason)

    assert post() == 401
    assert post("not-a-token") == 401
    assert post(other) == 403
    assert post(own) == 200
    assert post(other) == 403   # cached verdicts too
    assert refused("unauthenticated") == 2
    assert refused("forbidden") == 2
    assert 'forwarding pods must run as" user=system:serviceaccount:%s:%s' \
        % (NS, SA) in node.log_text()
    node.check_alive()
