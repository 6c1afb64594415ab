"""dga NXDOMAIN bursts on real resolver traffic: BIND authoritative for
com, net, org and cluster.local, Unbound resolving with its client dnstap
into the daemon, and dig clients from their own addresses.

An infected client asks short random names one after the other, as DGA
malware does: none fires on its own at minLength 6 (their labels have 5
letters) and BIND answers NXDOMAIN for all but the one the operator
registered.  Once four of them have come back NXDOMAIN the client is in
a burst: every one of its random names is reported, those before the
burst too, and so is the registered one, which resolves.  A benign
client's NXDOMAIN answers (search-path expansions, typos) and three of
the same random names (one short of a burst) raise nothing.
"""

import json
import os
import random
import subprocess
import time

import servers as S
from conftest import require, require_root
from test_slowquery import dig_batch

INFECTED = "127.0.32.1"
BENIGN = "127.0.32.2"
TLDS = ("com", "net", "org")
REGISTERED = "fzjqk.com"
NS = "@ IN NS a.root-servers.test.\n"
ZONES = {
    "com.": NS + "fzjqk IN A 192.0.2.66\ngithub IN A 192.0.2.1\n",
    "net.": NS,
    "org.": NS + "debian IN A 192.0.2.2\n",
    "cluster.local.": NS + "kubernetes.default.svc IN A 10.96.0.1\n",
}
DETECTORS = S.only_detectors(dga={"minLength": 6, "minEntropy": 2.5,
                                   "nxdomainBurst": 4,
                                   "burstWindow": "10m"})


def explain(daemon_bin, config, names):
    """The dga verdicts of names: [(verdict, burst_verdict)]."""
    out = subprocess.run([daemon_bin, "explain", "--config", config],
                         input="\n".join(names) + "\n", text=True,
                         capture_output=True, check=True).stdout
    rows = [json.loads(line)["dga"] for line in out.splitlines()]
    return [(r["verdict"], r["burst_verdict"]) for r in rows]


def burst_names(daemon_bin, config, n):
    """n random five-letter names that fire only at the burst bar."""
    rng = random.Random(7)
    out = []
    while len(out) < n:
        batch = ["".join(rng.choice("bcdfghjklmnpqrstvwxz")
                         for _ in range(5)) + "." + rng.choice(TLDS)
                 for _ in range(4 * n)]
        for name, v in zip(batch, explain(daemon_bin, config, batch)):
            if v == (False, True) and name not in out + [REGISTERED]:
                out.append(name)
    return out[:n]


def dga_findings(daemon):
    """{subject: {qname: signals}} of the dga findings, last line wins."""
    out = {}
    for f in daemon.findings():
        spec = f["spec"]
        if spec["type"] == "DNSDomainGenerationAlgorithm":
            sig = spec["signals"]
            out.setdefault(spec["subject"]["name"], {})[sig["qname"]] = sig
    return out


def test_nxdomain_burst(daemon_bin, workdir, procs):
    require_root()
    require("named", "unbound", "dig")
    sock = os.path.join(workdir, "dt.sock")
    config = S.write_config(workdir, detectors=DETECTORS)
    assert explain(daemon_bin, config, [REGISTERED]) == [(False, True)]
    random_names = burst_names(daemon_bin, config, 12)
    auth = S.AuthServer(workdir, zones=ZONES)
    procs.append(auth)
    auth.start()
    daemon = S.Daemon(workdir, ("unix", sock), config=config)
    procs.append(daemon)
    daemon.start()
    unbound = S.Unbound(workdir, auth, dnstap=sock, log=("client",),
                        addrs=("127.0.0.1",))
    procs.append(unbound)
    unbound.start()
    daemon.wait_connected()

    benign = ["github.com", "debian.org", "gthub.com", "debain.org",
              "kubernetes.default.svc.cluster.local"]
    benign += ["web%d.default.svc.cluster.local" % i for i in range(20)]
    benign += ["github.com.default.svc.cluster.local",
               "github.com.svc.cluster.local", "github.com.cluster.local"]
    benign += random_names[:3]
    ok_benign = dig_batch(unbound.addr, unbound.port, BENIGN, benign,
                          workdir, "benign")
    ok_infected = dig_batch(unbound.addr, unbound.port, INFECTED,
                            random_names + [REGISTERED], workdir,
                            "infected")
    assert ok_benign == 3, ok_benign     # github, debian, kubernetes
    assert ok_infected == 1, ok_infected  # only the registered one

    time.sleep(S.DNSTAP_SETTLE)
    unbound.stop()
    time.sleep(1.0)
    rc, _ = daemon.terminate()
    assert rc == 0, daemon.log_tail()
    found = dga_findings(daemon)

    assert BENIGN not in found, found.get(BENIGN)
    mine = found.get(INFECTED, {})
    assert set(mine) == set(random_names + [REGISTERED]), sorted(mine)
    for name, sig in mine.items():
        assert sig["bar"] == "burst", sig
        assert int(sig["nxdomain_names"]) >= 4, sig
        assert sig["nxdomain_burst"] == "4", sig
        assert float(sig["ngram_score"]) <= float(sig["max_ngram_score"])
    # The first three were reported when the fourth made the burst.
    for name in random_names[:3]:
        assert mine[name]["rcode"] == "NXDOMAIN", mine[name]
        assert float(mine[name]["seen_before_s"]) >= 0.0, mine[name]
    assert mine[REGISTERED]["qtype"] == "A", mine[REGISTERED]
    assert "seen_before_s" not in mine[REGISTERED]
