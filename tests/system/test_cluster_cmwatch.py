"""Blocklist ConfigMaps (spec.detectors.blocklist.namespaceConfigMaps)
are watched, not polled.

One daemon in Kubernetes mode (test_cluster.py's Node and ServiceAccount
token) with --resync-period 5m, so nothing periodic can be what catches
a change.  Checked:
- an edit of the ConfigMap is caught by a query within about 2 s;
- the set of ConfigMaps follows the config: one added to the
  DNSDetectConfig is watched and its names caught, one dropped is no
  longer watched and its names no longer raise anything;
- a ConfigMap deleted keeps its last list in force, and the log says so;
- a ConfigMap the ServiceAccount may not read (no Role in its
  namespace) is logged as unreadable (403), and the rest still works.
The time from edit to catch is printed.
"""

import json
import signal
import time

import pytest
import yaml

import k8s
import servers as S
from test_cluster import BLOCKLIST, CONFIG, NS, Node, sa_env

CATCH_S = 2.5


@pytest.fixture(scope="module")
def cp(tmp_path_factory):
    for cluster in k8s.cluster_fixture(tmp_path_factory):
        cluster.apply_deploy()
        cluster.kubectl("create", "namespace", "locked")
        cluster.kubectl("apply", "-f", "-",
                        input=yaml.safe_dump_all([BLOCKLIST, CONFIG]))
        yield cluster


def cm(name, text, ns="ops"):
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": ns},
            "data": {"list.txt": text}}


def set_maps(cp, maps):
    """Point the DNSDetectConfig at maps [(namespace, name)]."""
    refs = [{"namespace": ns, "name": n, "clusterWide": True}
            for ns, n in maps]
    patch = {"spec": {"detectors": {"blocklist": {
        "namespaceConfigMaps": refs}}}}
    cp.kubectl("patch", "dnsdetectconfig", "default", "-n", NS,
               "--type", "merge", "-p", json.dumps(patch))


class Asker:
    """Queries from fresh client IPs (dedup is per client and name)."""

    def __init__(self, node):
        self.node = node
        self.n = 0

    def raises(self, name):
        """Whether a query for name now becomes a finding (within 0.5 s)."""
        self.n += 1
        ip = "127.0.%d.%d" % (10 + self.n // 250, self.n % 250 + 1)
        self.node.ask(name, ip)
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            if any(ip in json.dumps(f) for f in self.node.findings()):
                return True
            time.sleep(0.05)
        return False

    def caught_within(self, name, timeout):
        """Seconds until a query for name raises; fails after timeout."""
        t0 = time.monotonic()
        S.wait_for(lambda: self.raises(name), timeout, name + " caught",
                   interval=0)
        return time.monotonic() - t0


def test_configmaps_watched(cp, daemon_bin, workdir, procs):
    node = Node(workdir, "node-w", sa_env(cp, workdir))
    i = node.argv.index("--resync-period")
    node.argv[i + 1] = "5m"
    procs.append(node)
    node.start()
    S.wait_for(lambda: "blocklist ConfigMap fed" in node.log_text(), 10,
               "ConfigMap fed")
    ask = Asker(node)
    assert ask.raises("a.evil.test")
    assert not ask.raises("a.later.test")

    # An edit is caught at once, not at the next resync (5 minutes).
    cp.kubectl("apply", "-f", "-",
               input=yaml.safe_dump(cm("dns-blocklist",
                                       "evil.test\nlater.test\n")))
    took = ask.caught_within("b.later.test", CATCH_S + 1)
    print("\nConfigMap edit caught %.2fs after kubectl apply returned"
          % took)
    assert took <= CATCH_S

    # A second ConfigMap joins the config: watched, caught.
    cp.kubectl("apply", "-f", "-",
               input=yaml.safe_dump(cm("more", "second.test\n")))
    set_maps(cp, [("ops", "dns-blocklist"), ("ops", "more")])
    S.wait_for(lambda: "blocklist ConfigMap watched\" configmap=ops/more"
               in node.log_text(), 10, "the new ConfigMap watched")
    ask.caught_within("c.second.test", CATCH_S)
    assert ask.raises("c.evil.test")

    # The first one leaves the config: no longer watched nor in force.
    set_maps(cp, [("ops", "more")])
    S.wait_for(lambda: "no longer watched\" configmap=ops/dns-blocklist"
               in node.log_text(), 10, "the dropped ConfigMap unwatched")
    assert not ask.raises("d.evil.test")
    assert ask.raises("d.second.test")

    # Deleted: the last list stays in force, and the log says so.
    cp.kubectl("delete", "configmap", "more", "-n", "ops")
    S.wait_for(lambda: "blocklist ConfigMap missing\" configmap=ops/more"
               in node.log_text(), 10, "the deletion logged")
    assert "last list fed stays" in node.log_text()
    assert ask.raises("e.second.test")

    # Back again with other text: followed.
    cp.kubectl("apply", "-f", "-",
               input=yaml.safe_dump(cm("more", "third.test\n")))
    ask.caught_within("f.third.test", CATCH_S)
    assert not ask.raises("f.second.test")

    # A namespace the ServiceAccount may not read: said so; the other
    # list still works.
    cp.kubectl("apply", "-f", "-",
               input=yaml.safe_dump(cm("secret-list", "hidden.test\n",
                                       ns="locked")))
    set_maps(cp, [("ops", "more"), ("locked", "secret-list")])
    S.wait_for(lambda: "blocklist ConfigMap unreadable\" "
               "configmap=locked/secret-list rc=-13 status=403"
               in node.log_text(), 10, "the 403 logged")
    assert not ask.raises("g.hidden.test")
    assert ask.raises("g.third.test")
    assert node.log_text().count("configmap=locked/secret-list rc=-13") == 1
    assert node.stop(signal.SIGTERM) == 0
