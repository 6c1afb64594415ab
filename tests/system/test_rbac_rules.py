"""Least privilege, for real: every grant of deploy/rbac is needed.

deploy/rbac/*.yaml is parsed and every grant of its ClusterRole and
Roles, one verb on one resource of one rule, is a test of its own: the
manifests are applied with that one grant removed (kubectl apply of a
modified copy; `kubectl auth can-i` as the ServiceAccount confirms it is
gone), a daemon runs with the ServiceAccount's token through one
scenario, and the behaviour the grant exists for must break:

  dnsdetectconfigs list          the config is never applied
  dnsdetectconfigs watch         a spec change is not followed
  dnsdetectconfigs/status patch  status is not written
  securityevents create          no SecurityEvent; the write metric
                                 counts outcome="denied" (401/403)
  events create                  no InvalidConfig Event
  leases get, create             never leader
  leases patch                   cannot renew: steps down after the
                                 renew deadline, no release at exit
  configmaps list (ops)          the blocklist ConfigMap never loaded
  configmaps watch (ops)         a ConfigMap edit is not followed
  pods list                      the node's Pod index stays empty
  pods watch                     a Pod bound later is not indexed
  secrets list (the token one)   the CoreDNS token is never read
  secrets watch                  a rotated token is not followed
  endpointslices list            no CoreDNS endpoint is found
    (kube-system)
  endpointslices watch           a CoreDNS pod added later is not found
  tokenreviews create            a batch forwarded with the
                                 ServiceAccount's token is not taken

The scenario's config names coredns-ugallu as the fallback (the dnstap
socket stays the primary), so the daemon follows the token Secret and
the DNS Service's EndpointSlices without dialling anything.

A grant whose removal breaks nothing fails its test, naming it: it is
not needed and should leave the manifests.  A control test runs the
same scenario with the manifests as shipped: every behaviour works (so
each "broken" above is caused by the missing grant, not the scenario).

One control plane for the module; each scenario is one short-lived
daemon (about 8 s; less when a step breaks early).
"""

import copy
import glob
import json
import os
import signal
import time

import pytest
import yaml

import k8s
import servers as S
from test_cluster import (BLOCKLIST, CONFIG, LEASE, NS, RENEW_S, RETRY_S,
                          SA, Node, by_subject, lease_holder, sa_env,
                          security_events)
from test_pod_attribution import make_pod

RBAC = os.path.join(k8s.DEPLOY, "rbac")
WHO = "system:serviceaccount:%s:%s" % (NS, SA)
STEP_S = 3.0

# What breaks without each grant: (group, resource, verb) -> behaviour.
NEEDS = {
    ("security.ugallu.io", "dnsdetectconfigs", "list"): "config_applied",
    ("security.ugallu.io", "dnsdetectconfigs", "watch"): "config_followed",
    ("security.ugallu.io", "dnsdetectconfigs/status", "patch"):
        "status_written",
    ("security.ugallu.io", "securityevents", "create"):
        "securityevent_created",
    ("", "events", "create"): "invalid_config_event",
    ("coordination.k8s.io", "leases", "get"): "leader",
    ("coordination.k8s.io", "leases", "create"): "leader",
    ("coordination.k8s.io", "leases", "patch"): "leader_kept",
    ("", "configmaps", "list"): "blocklist_loaded",
    ("", "configmaps", "watch"): "blocklist_followed",
    ("", "pods", "list"): "pods_indexed",
    ("", "pods", "watch"): "pods_followed",
    ("", "secrets", "list"): "token_read",
    ("", "secrets", "watch"): "token_followed",
    ("discovery.k8s.io", "endpointslices", "list"): "coredns_found",
    ("discovery.k8s.io", "endpointslices", "watch"): "coredns_followed",
    ("authentication.k8s.io", "tokenreviews", "create"): "forward_accepted",
}

# Grants checked with can-i only, and why (none today).
CAN_I_ONLY = {}


def rbac_docs():
    """[(file name, [documents])] of deploy/rbac, in file order."""
    out = []
    for path in sorted(glob.glob(os.path.join(RBAC, "*.yaml"))):
        with open(path) as f:
            out.append((os.path.basename(path),
                        [d for d in yaml.safe_load_all(f) if d]))
    return out


def grants():
    """Every (file, doc index, rule index, group, resource, verb)."""
    out = []
    for fname, docs in rbac_docs():
        for di, doc in enumerate(docs):
            if doc["kind"] not in ("Role", "ClusterRole"):
                continue
            for ri, rule in enumerate(doc["rules"]):
                for group in rule["apiGroups"]:
                    for res in rule["resources"]:
                        for verb in rule["verbs"]:
                            out.append((fname, di, ri, group, res, verb))
    return out


def grant_id(g):
    fname, di, ri, group, res, verb = g
    return "%s-rule%d-%s-%s" % (fname.split("-", 1)[1][:-5], ri,
                                res.replace("/", "."), verb)


def without(g):
    """The manifests as one YAML stream, grant g removed (the rule split
    so the rest of it stays)."""
    fname, di, ri, group, res, verb = g
    out = []
    for f, docs in rbac_docs():
        docs = copy.deepcopy(docs)
        if f == fname:
            rule = docs[di]["rules"][ri]
            rest = dict(rule, resources=[r for r in rule["resources"]
                                         if r != res])
            mine = dict(rule, resources=[res],
                        verbs=[v for v in rule["verbs"] if v != verb])
            docs[di]["rules"][ri:ri + 1] = [
                r for r in (rest, mine) if r["resources"] and r["verbs"]]
        out += docs
    return yaml.safe_dump_all(out)


def can_i(cp, g):
    fname, di, ri, group, res, verb = g
    doc = dict(rbac_docs())[fname][di]
    rule = doc["rules"][ri]
    base, _, sub = res.partition("/")
    what = base + ("." + group if group else "")
    if rule.get("resourceNames"):
        what += "/" + rule["resourceNames"][0]
    args = ["auth", "can-i", verb, what, "--as", WHO]
    args += ["--subresource", sub] if sub else []
    ns = doc["metadata"].get("namespace")
    args += ["-n", ns] if ns else ["-A"]
    r = cp.kubectl(*args, check=False)
    return r.stdout.strip() == "yes"


def wait_can_i(cp, g, want):
    S.wait_for(lambda: can_i(cp, g) == want, 15,
               "can-i %s = %s" % (grant_id(g), want), interval=0.2)


@pytest.fixture(scope="module")
def cp(tmp_path_factory):
    for cluster in k8s.cluster_fixture(tmp_path_factory):
        cluster.apply_deploy()
        yield cluster


def config(name, cm_name, service):
    c = copy.deepcopy(CONFIG)
    c["metadata"]["name"] = name
    c["spec"]["source"] = {"mode": "dnstap", "fallback": "coredns-ugallu",
                           "corednsService": "kube-system/" + service}
    c["spec"]["detectors"]["blocklist"]["namespaceConfigMaps"][0][
        "name"] = cm_name
    return c


class Scenario:
    """One daemon, one config and one ConfigMap of its own; run() tries
    every behaviour and notes which worked."""

    def __init__(self, cp, workdir, procs, n):
        self.cp, self.workdir, self.procs = cp, workdir, procs
        self.tag = "r%d" % n
        tag = self.tag
        self.net = "127.%d.7." % (100 + n)   # client IPs of its own
        self.ok = {}
        self.cm = copy.deepcopy(BLOCKLIST)
        self.cm["metadata"]["name"] = "list-" + tag
        self.cfg = config("cfg-" + tag, "list-" + tag, "dns-" + tag)
        self.pod_net = "10.%d.7." % (100 + n)

    def step(self, name, pred, timeout=STEP_S):
        try:
            S.wait_for(pred, timeout, name, interval=0.1)
            self.ok[name] = True
        except TimeoutError:
            self.ok[name] = False
        return self.ok[name]

    def gen(self):
        return self.cp.get_json("dnsdetectconfig", self.cfg["metadata"][
            "name"], "-n", NS)["metadata"]["generation"]

    def applied(self, gen):
        return ('DNSDetectConfig applied" name=%s/%s generation=%d'
                % (NS, self.cfg["metadata"]["name"], gen)
                in self.node.log_text())

    def caught(self, name, ip):
        self.node.ask(name, ip)
        time.sleep(0.3)
        return any(ip in json.dumps(f) for f in self.node.findings())

    def patch_cfg(self, spec):
        self.cp.kubectl("patch", "dnsdetectconfig",
                        self.cfg["metadata"]["name"], "-n", NS, "--type",
                        "merge", "-p", json.dumps({"spec": spec}))
        return self.gen()

    def start(self):
        cp = self.cp
        cp.kubectl("delete", "lease", LEASE, "-n", NS, "--ignore-not-found")
        cp.kubectl("apply", "-f", "-",
                   input=yaml.safe_dump_all([self.cm, self.cfg,
                                             self.secret("token-1"),
                                             self.slice(1)]))
        self.pod(1)
        self.node = Node(self.workdir, "node-" + self.tag,
                         sa_env(cp, self.workdir))
        self.node.argv += ["--config-name", self.cfg["metadata"]["name"]]
        self.procs.append(self.node)
        self.node.start()

    def secret(self, token):
        return {"apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": "ugallu-coredns-grpc-token",
                             "namespace": NS},
                "stringData": {"token": token}}

    def slice(self, i):
        return {"apiVersion": "discovery.k8s.io/v1",
                "kind": "EndpointSlice",
                "metadata": {"name": "dns-%s-%d" % (self.tag, i),
                             "namespace": "kube-system",
                             "labels": {"kubernetes.io/service-name":
                                        "dns-" + self.tag}},
                "addressType": "IPv4", "ports": [],
                "endpoints": [{"addresses": ["198.18.1.%d" % i]}]}

    def pod(self, i):
        make_pod(self.cp, NS, "p-%s-%d" % (self.tag, i), "node-" + self.tag,
                 self.pod_net + str(i))

    def index(self):
        return S.metric(self.node.metrics(), "ugallu_dns_pod_index_entries")

    def tokens_read(self):
        return self.node.log_text().count('msg="CoreDNS token read"')

    def coredns_count(self, n):
        return ('msg="CoreDNS endpoints" service=kube-system/dns-%s '
                'count=%d' % (self.tag, n)) in self.node.log_text()

    def run(self):
        self.start()
        self.leadership()
        self.watched_inputs()
        self.config_and_status()
        self.blocklist_and_events()
        self.forwarded()
        self.invalid_config()
        self.still_leader()
        self.shutdown()
        return self.ok

    def watched_inputs(self):
        """Pods, the token Secret and the EndpointSlices: read at start,
        then followed."""
        self.step("pods_indexed", lambda: self.index() >= 1)
        self.step("token_read", lambda: self.tokens_read() >= 1)
        self.step("coredns_found", lambda: self.coredns_count(1))
        self.pod(2)
        self.cp.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(
            [self.secret("token-2"), self.slice(2)]))
        self.step("pods_followed", lambda: self.index() >= 2)
        self.step("token_followed", lambda: self.tokens_read() >= 2)
        self.step("coredns_followed", lambda: self.coredns_count(2))

    def leadership(self):
        self.step("leader", self.node.leader)
        self.t_leader = time.monotonic()

    def still_leader(self):
        """After the renew deadline: still leading (renewals work)."""
        left = RENEW_S + RETRY_S * 3 - (time.monotonic() - self.t_leader)
        time.sleep(max(0.0, left))
        self.ok["leader_kept"] = self.ok["leader"] and self.node.leader()

    def config_and_status(self):
        self.step("config_applied", lambda: self.applied(1))
        g = self.patch_cfg({"detectors": {"dga": {"enabled": True}}})
        self.step("config_followed", lambda: self.applied(g))
        self.step("status_written", lambda: self.cp.get_json(
            "dnsdetectconfig", self.cfg["metadata"]["name"], "-n",
            NS).get("status", {}).get("observedGeneration") == g)

    def blocklist_and_events(self):
        self.step("blocklist_loaded",
                  lambda: self.caught("a.evil.test", self.net + "1"))
        self.step("securityevent_created", lambda: self.net + "1" in
                  by_subject(security_events(self.cp)), timeout=2.0)
        self.denied = S.metric(self.node.metrics(),
                               "ugallu_dns_securityevent_writes_total",
                               sink="apiserver", outcome="denied")
        cm = copy.deepcopy(self.cm)
        cm["data"]["list.txt"] = "evil.test\nlater.test\n"
        self.cp.kubectl("apply", "-f", "-", input=yaml.safe_dump(cm))
        self.step("blocklist_followed",
                  lambda: self.caught("b.later.test", self.net + "2"))

    def forwarded(self):
        """A batch POSTed to the forward listener with the
        ServiceAccount's token, as another pod would, is taken (200) and
        becomes a SecurityEvent."""
        mine = self.node.findings()
        if not mine:
            self.ok["forward_accepted"] = False
            return
        se = copy.deepcopy(mine[0])
        se["metadata"]["name"] = "fwd-" + self.tag
        with open(os.path.join(self.workdir, "sa", "token")) as f:
            token = f.read().strip()
        url = "http://127.0.0.1:%d/v1/findings" % self.node.fwd_port
        code, _ = S.http_post(url, json.dumps([se]),
                              {"Authorization": "Bearer " + token})
        self.ok["forward_accepted"] = code == 200 and self.step(
            "forward_accepted", lambda: "fwd-" + self.tag in
            [o["metadata"]["name"] for o in security_events(self.cp)])

    def invalid_config(self):
        name = self.cfg["metadata"]["name"]
        self.patch_cfg({"detectors": {"blocklist": {
            "files": ["/nonexistent/rbac-list"]}}})

        def event():
            items = self.cp.get_json("events", "-n", NS)["items"]
            return [e for e in items if e["reason"] == "InvalidConfig" and
                    e["involvedObject"]["name"] == name]
        self.step("invalid_config_event", event)

    def shutdown(self):
        assert self.node.stop(signal.SIGTERM) == 0
        self.ok["lease_released"] = (
            self.ok["leader_kept"] and lease_holder(self.cp) == "" and
            "lease released" in self.node.log_text())


def test_all_behaviours_with_the_shipped_rbac(cp, daemon_bin, workdir,
                                              procs):
    """The control: with every grant, every behaviour works."""
    ok = Scenario(cp, workdir, procs, 99).run()
    assert all(ok.values()), ok
    assert set(ok) >= set(NEEDS.values())


@pytest.mark.parametrize("g", grants(), ids=grant_id)
def test_grant_is_needed(cp, daemon_bin, workdir, procs, g):
    fname, di, ri, group, res, verb = g
    assert can_i(cp, g), "the shipped manifests should grant it"
    cp.kubectl("apply", "-f", "-", input=without(g))
    try:
        wait_can_i(cp, g, False)
        if (group, res.split("/")[0]) in CAN_I_ONLY:
            print("\n%s: can-i only (%s)"
                  % (grant_id(g), CAN_I_ONLY[(group, res.split("/")[0])]))
            return
        sc = Scenario(cp, workdir, procs, grants().index(g))
        ok = sc.run()
        broken = sorted(k for k, v in ok.items() if not v)
        print("\nwithout %s %s/%s: broken %s" % (verb, group or "core", res,
                                                 broken))
        want = NEEDS.get((group, res, verb))
        assert want is not None, (
            "removing %s on %s/%s breaks %s: %s" % (
                verb, group or "core", res, broken or "nothing",
                "not needed by the daemon, drop it from deploy/rbac"
                if not broken else "add it to NEEDS"))
        assert not ok[want], ok
        if want == "securityevent_created":
            assert sc.denied >= 1
    finally:
        for fname_, _ in rbac_docs():
            cp.apply(os.path.join(RBAC, fname_))
        wait_can_i(cp, g, True)
