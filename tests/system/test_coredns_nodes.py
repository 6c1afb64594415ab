"""The plugin's routing by node, with the pod CIDRs watched from a real
API server.

CoreDNS with the ugallu plugin runs with the `kubernetes` option and a
kubeconfig holding the token of ServiceAccount kube-system/coredns, bound
by deploy/coredns/rbac.yaml (list and watch Nodes, nothing else).  Node
objects carry spec.podCIDRs in 127/8, so dig can send from inside them:

    node-a 127.0.10.0/24     node-b 127.0.20.0/24
    node-c 127.0.30.0/24     (created while CoreDNS runs)

Each node's subscriber gets its own clients only; clients outside every
CIDR reach only a subscriber that asked for unplaced clients; a Node
created later is routed as soon as the watch sees it.
"""

import os

import pytest
import yaml

import k8s
import servers as S
from conftest import require
from test_coredns_plugin import (CLIENT_A, CLIENT_B, CLIENT_X, CoreDNS,
                                 coredns_dir, dig_from, subscribe)

__all__ = ["coredns_dir"]  # the fixture, imported for pytest

CLIENT_C = "127.0.30.5"


def node(name, cidr):
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name},
            "spec": {"podCIDR": cidr, "podCIDRs": [cidr]}}


@pytest.fixture(scope="module")
def cp(tmp_path_factory):
    for cluster in k8s.cluster_fixture(tmp_path_factory):
        cluster.kubectl("-n", "kube-system", "create", "serviceaccount",
                        "coredns")
        cluster.apply(os.path.join(k8s.DEPLOY, "coredns", "rbac.yaml"))
        cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(
            [node("node-a", "127.0.10.0/24"),
             node("node-b", "127.0.20.0/24")]))
        yield cluster


class WatchingCoreDNS(CoreDNS):
    """CoreDNS whose plugin learns the nodes' CIDRs from the API."""

    def __init__(self, workdir, bindir, auth, kubeconfig):
        self.kubeconfig = kubeconfig
        super().__init__(workdir, bindir, auth, options="rate 0 0")

    def ugallu_block(self):
        return """ugallu {
        listen 127.0.0.1:%d
        token_file %s
        kubernetes %s
        rate 0 0
    }""" % (self.grpc_port, self.token, self.kubeconfig)


def test_routes_by_the_nodes_pod_cidrs(cp, coredns_dir, auth, workdir,
                                       procs):
    require("dig")
    token = cp.kubectl("-n", "kube-system", "create", "token", "coredns",
                       "--duration=1h").stdout.strip()
    kubeconfig = cp.token_kubeconfig(token, "coredns")
    cd = WatchingCoreDNS(workdir, coredns_dir, auth, kubeconfig)
    procs.append(cd)
    cd.start()

    subs = {n: subscribe(workdir, procs, coredns_dir, cd, n)
            for n in ("node-a", "node-b", "node-c")}
    unplaced = subscribe(workdir, procs, coredns_dir, cd, "elsewhere",
                         extra=("-unplaced",), name="sub-unplaced")
    # node-c does not exist yet: its client is unplaced.
    S.wait_for(lambda: dig_from(cd, CLIENT_A, "probe.zone.test.") and
               "probe.zone.test" in subs["node-a"].out_text(), 20,
               "node-a's CIDR learnt from the API")
    dig_from(cd, CLIENT_C, "before.zone.test.")

    cp.kubectl("apply", "-f", "-",
               input=yaml.safe_dump(node("node-c", "127.0.30.0/24")))

    def c_routed():
        dig_from(cd, CLIENT_C, "after.zone.test.")
        return "after.zone.test" in subs["node-c"].out_text()
    S.wait_for(c_routed, 20, "node-c routed once created", interval=0.3)
    for src in (CLIENT_A, CLIENT_B, CLIENT_X):
        dig_from(cd, src, "r.zone.test.")

    got = {n: s.finish()[0] for n, s in subs.items()}
    got["unplaced"] = unplaced.finish()[0]
    assert {e["src_ip"] for e in got["node-a"]} == {CLIENT_A}
    assert {e["src_ip"] for e in got["node-b"]} == {CLIENT_B}
    assert {e["src_ip"] for e in got["node-c"]} == {CLIENT_C}
    assert {e["src_ip"] for e in got["unplaced"]} == {CLIENT_X, CLIENT_C}
    before = [e for e in got["unplaced"] if e["src_ip"] == CLIENT_C]
    assert {e["qname"] for e in before} == {"before.zone.test."}
    assert "before.zone.test." not in {e["qname"] for e in got["node-c"]}
