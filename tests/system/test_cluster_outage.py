"""Kubernetes mode through an API server outage.

Three daemons as three nodes (test_cluster.py's Node, ServiceAccount
token and short lease timings) on a private control plane.  Once a
leader is elected and a first finding landed, kube-apiserver alone is
stopped for 30 s (etcd stays up) while every node keeps raising
blocklist findings, then started again on the same address and
certificates.  Before that, the API server is frozen (SIGSTOP) for a
few seconds: it accepts connections and answers nothing.  The test
checks:
- while it hangs, the leader steps down at the renew deadline (its
  renewal request is still waiting for an answer);
- during the outage, no node still claims to lead once the renew
  deadline has passed (a leader that cannot renew steps down), and no
  daemon dies;
- afterwards every daemon is alive, the Lease is held by exactly one
  node, and every finding raised during the outage exists as a
  SecurityEvent exactly once (the dispatch queue, 4096 objects by
  default, holds far more than the test raises; nothing is dropped);
- the DNSDetectConfig watch resumed: a spec change made after the
  restart is applied on every node, and the status follows it;
- the blocklist ConfigMap watch resumed: a name added to the ConfigMap
  after the restart is caught by the next query.
Timings (time to deliver the backlog, to follow the change) are printed.
"""

import json
import signal
import time

import pytest
import yaml

import k8s
import servers as S
from test_cluster import (BLOCKLIST, CONFIG, LEASE_S, NS, RENEW_S, RETRY_S,
                          Node, by_subject, change_config, config_status,
                          lease_holder, sa_env, security_events,
                          wait_events, wait_leader)

OUTAGE_S = 30.0
ROUND_S = 3.0


@pytest.fixture(scope="module")
def cp(tmp_path_factory):
    """A private control plane (this test stops its API server)."""
    for cluster in k8s.cluster_fixture(tmp_path_factory):
        cluster.apply_deploy()
        cluster.kubectl("apply", "-f", "-",
                        input=yaml.safe_dump_all([BLOCKLIST, CONFIG]))
        yield cluster


def start_nodes(cp, workdir, procs):
    env = sa_env(cp, workdir)
    nodes = []
    for name in ("node-a", "node-b", "node-c"):
        n = Node(workdir, name, env)
        procs.append(n)
        nodes.append(n.start())
    S.wait_for(lambda: all("blocklist ConfigMap fed" in n.log_text()
                           for n in nodes), 10, "ConfigMap fed")
    return nodes


def feed_during_outage(nodes):
    """Raise one finding per node every ROUND_S for OUTAGE_S; returns
    the client IPs used.  Checks on the way that leadership is given up
    once the renew deadline passed."""
    t0 = time.monotonic()
    ips, r, checked = [], 0, False
    while time.monotonic() - t0 < OUTAGE_S:
        for i, n in enumerate(nodes):
            ip = "127.0.5.%d" % (r * len(nodes) + i + 1)
            n.ask("o%d-%d.evil.test" % (r, i), ip)
            ips.append(ip)
        r += 1
        if not checked and time.monotonic() - t0 > RENEW_S + RETRY_S * 2:
            leading = [n.node for n in nodes if n.leader()]
            print("\nleaders %.1fs into the outage: %s"
                  % (time.monotonic() - t0, leading or "none"))
            assert leading == []
            checked = True
        for n in nodes:
            n.check_alive()
        time.sleep(ROUND_S)
    assert checked
    return ips


def test_apiserver_outage(cp, daemon_bin, workdir, procs):
    nodes = start_nodes(cp, workdir, procs)
    wait_leader(cp, nodes, LEASE_S * 3)
    nodes[0].ask("before.evil.test", "127.0.4.1")
    wait_events(cp, ["127.0.4.1"])

    # Hung, not gone: connections accepted, nothing answered.  The
    # leader's renewal hangs, yet it steps down at the renew deadline.
    cp.signal_apiserver(signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        S.wait_for(lambda: not any(n.leader() for n in nodes),
                   RENEW_S + RETRY_S * 2 + 1, "no leader while hung")
        print("\nno leader %.2fs into the hang" % (time.monotonic() - t0))
        nodes[2].ask("hung.evil.test", "127.0.4.2")
    finally:
        cp.signal_apiserver(signal.SIGCONT)
    wait_leader(cp, nodes, LEASE_S * 4)

    # The outage, with findings raised on every node meanwhile.
    cp.stop_apiserver()
    ips = feed_during_outage(nodes)
    t_up = time.monotonic()
    cp.start_apiserver()
    print("API server back after %.1fs of outage" % OUTAGE_S)

    for n in nodes:
        assert n.alive(), n.log_tail()
    leader = wait_leader(cp, nodes, LEASE_S * 4)
    print("%s leads %.2fs after the restart"
          % (leader.node, time.monotonic() - t_up))
    ips.append("127.0.4.2")
    seen = wait_events(cp, ips + ["127.0.4.1"], timeout=60)
    print("%d findings of the outage delivered %.2fs after the restart"
          % (len(ips), time.monotonic() - t_up))
    for ip in ips + ["127.0.4.1"]:
        assert len(seen[ip]) == 1, (ip, seen[ip])
    for n in nodes:
        assert S.metric(n.metrics(), "ugallu_dns_events_dropped_total",
                        reason="dispatch_full") == 0

    # The config watch resumed: a spec change is followed everywhere.
    took = change_config(cp, nodes, {"dga": {"enabled": True}}, timeout=15)
    print("config change after the restart applied on every node in %.2fs"
          % took)
    assert config_status(cp)["detectors"]["dga"]["enabled"] is True

    # The ConfigMap watch resumed: a new name is caught.
    cm = json.loads(json.dumps(BLOCKLIST))
    cm["data"]["list.txt"] = "evil.test\nlater.test\n"
    cp.kubectl("apply", "-f", "-", input=yaml.safe_dump(cm))
    t0 = time.monotonic()

    def caught():
        nodes[1].ask("x.later.test", "127.0.6.1")
        time.sleep(0.3)
        return "127.0.6.1" in by_subject(security_events(cp))
    S.wait_for(caught, 15, "the ConfigMap change caught", interval=0.2)
    print("ConfigMap change caught %.2fs after the edit"
          % (time.monotonic() - t0))

    # Exactly one holder, and everyone agrees on it.
    leader = wait_leader(cp, nodes, LEASE_S * 2)
    assert lease_holder(cp).startswith(leader.node + "-")
    for n in nodes:
        assert n.alive()
        assert n.stop(signal.SIGTERM) == 0
