"""deploy/crds and deploy/rbac on a real kube-apiserver (with etcd).

The CRDs must take the DESIGN's example config as written, fill in the
daemon's own defaults, reject what the daemon's loader rejects, show the
printer columns, and accept every SecurityEvent the daemon writes.  The
ServiceAccount's token must be able to do what DESIGN 2.3 lists, less the
verbs the daemon never uses (see test_rbac_rules.py), and nothing else.
Where the daemon is built, it is the judge: the stored objects must load
in it and read the same as its defaults.
"""

import copy
import json
import os
import ssl
import subprocess
import urllib.error
import urllib.request

import pytest
import yaml

import k8s
import servers

SEED = os.path.join(k8s.DEPLOY, "examples", "dnsdetectconfig.yaml")
NS = "ugallu-system"
SA = "ugallu-dns-detect"

# Defaults the daemon takes (config_defaults() in src/config/config.c).
DEFAULTS = {
    "source": {"mode": "dnstap", "tokenSecret": "ugallu-coredns-grpc-token",
               "silenceAfter": "60s"},
    "detectors": {
        "blocklist": {"enabled": True, "defaultAllowlist": True},
        "dga": {"enabled": True, "minLength": 12, "minEntropy": 3.5,
                "maxNgramScore": 0, "nxdomainBurst": 4,
                "burstWindow": "10m"},
        "slowQuery": {"enabled": True, "latencyP99": "500ms"},
        "tunneling": {"enabled": True, "maxLabelLength": 40,
                      "minEntropy": 3.8, "uniqueSubdomains": 50,
                      "window": "60s"},
        "exfiltration": {"enabled": True, "bytesPerWindow": 65536,
                         "window": "60s"},
        "doh": {"enabled": True},
        "dot": {"enabled": True},
        "youngDomain": {"enabled": False, "thresholdDays": 30,
                        "rateLimit": 5},
        "anomalousPort": {"enabled": True},
    },
}


@pytest.fixture(scope="module")
def cluster(k8s_cluster):
    k8s_cluster.apply_deploy()
    return k8s_cluster


def daemon():
    """The built daemon, or None (the daemon-judged checks then skip)."""
    path = servers.daemon_binary()
    return path if os.access(path, os.X_OK) else None


def daemon_explain(config_path):
    """`ugallu-dns-detect explain --config FILE` on two names: the loader's
    verdict on the file (exit status) and the thresholds it took."""
    return subprocess.run([daemon(), "explain", "--config", config_path,
                           "example.com", "xk3q9zv7w2pl8m4n.com"],
                          cwd=k8s.ROOT, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=60)


def config(name, spec):
    return {"apiVersion": "security.ugallu.io/v1alpha1",
            "kind": "DNSDetectConfig",
            "metadata": {"name": name, "namespace": NS}, "spec": spec}


def security_event(name, **spec):
    base = {"class": "Detection", "type": "DNSToBlocklistedFQDN",
            "severity": "high",
            "clusterIdentity": {"clusterName": "test", "clusterID": "c1"},
            "source": {"kind": "DaemonSet", "name": "ugallu-dns-detect",
                       "version": "0.1.0", "instance": "node-1"},
            "subject": {"kind": "External", "name": "10.0.0.7",
                        "unresolved": True},
            "detectedAt": "2026-12-03T10:00:00.123456789Z",
            "signals": {"qname": "bad.example", "mergedCount": "0"},
            "correlationID": name}
    base.update(spec)
    return {"apiVersion": "security.ugallu.io/v1alpha1",
            "kind": "SecurityEvent", "metadata": {"name": name},
            "spec": base}


def table(output):
    """kubectl's table output as a list of {COLUMN: value} rows."""
    lines = output.rstrip("\n").split("\n")
    head = lines[0]
    starts = [i for i, c in enumerate(head)
              if c != " " and (i == 0 or head[i - 1] == " "
                               and (i < 2 or head[i - 2] == " "))]
    names = [head[a:b].strip() for a, b in
             zip(starts, starts[1:] + [None])]
    return [{n: line[a:b].strip() for n, a, b in
             zip(names, starts, starts[1:] + [None])} for line in lines[1:]]


def subset(want, got, path="spec"):
    """Assert every key of want is in got with the same value."""
    for k, v in want.items():
        assert k in got, "%s.%s missing from %r" % (path, k, got)
        if isinstance(v, dict):
            subset(v, got[k], path + "." + k)
        else:
            assert got[k] == v, "%s.%s = %r, want %r" % (path, k, got[k], v)


# The seed example and the defaults.

def test_seed_is_the_design_example():
    """deploy/examples holds DESIGN 2.1's manifest byte for byte (checked
    where the design notes are beside the repository)."""
    for cand in (os.path.join(k8s.ROOT, "..", "shared", "DESIGN.md"),
                 "/work/shared/DESIGN.md"):
        if os.path.exists(cand):
            with open(cand) as f:
                text = f.read()
            start = text.index("```yaml\n", text.index("### 2.1")) + 8
            with open(SEED) as f:
                assert f.read() == text[start:text.index("```", start)]
            return
    pytest.skip("DESIGN.md not found beside the repository")


def test_seed_applies_and_gets_defaults(cluster):
    cluster.apply(SEED)
    obj = cluster.get_json("dnsdetectconfig", "default", "-n", NS)
    spec = obj["spec"]

    assert spec["source"]["mode"] == "coredns-ugallu"
    assert spec["detectors"]["dot"] == {"enabled": False}
    assert spec["detectors"]["blocklist"]["namespaceConfigMaps"] == [
        {"namespace": "ops", "name": "dns-blocklist", "clusterWide": False}]
    want = copy.deepcopy(DEFAULTS)
    want["source"]["mode"] = "coredns-ugallu"
    want["detectors"]["dot"]["enabled"] = False
    subset(want, spec)
    assert "fallback" not in spec["source"]
    assert "status" not in obj and "phase" not in json.dumps(obj)


def test_empty_spec_gets_every_default(cluster):
    cluster.kubectl("apply", "-f", "-",
                    input=json.dumps(config("all-defaults", {})))
    spec = cluster.get_json("dnsdetectconfig", "all-defaults", "-n",
                            NS)["spec"]
    subset(DEFAULTS, spec)


def test_daemon_reads_stored_objects_as_its_defaults(cluster, tmp_path):
    """The objects as the API server stores them (managedFields and all)
    load in the daemon, and a defaulted empty spec gives the same
    thresholds as the daemon's own defaults."""
    if daemon() is None:
        pytest.skip("daemon not built (set UGALLU_BIN)")
    cluster.kubectl("apply", "-f", "-",
                    input=json.dumps(config("all-defaults", {})))
    stored = tmp_path / "stored.yaml"
    stored.write_text(cluster.kubectl("get", "-o", "yaml", "-n", NS,
                                      "dnsdetectconfig",
                                      "all-defaults").stdout)
    bare = tmp_path / "bare.yaml"
    bare.write_text(yaml.safe_dump(config("all-defaults", None)))

    a, b = daemon_explain(str(stored)), daemon_explain(str(bare))
    assert a.returncode == 0, a.stderr
    assert b.returncode == 0, b.stderr
    assert a.stdout == b.stdout and a.stdout.count("\n") == 2

    cluster.apply(SEED)
    seed = tmp_path / "seed.yaml"
    seed.write_text(cluster.kubectl("get", "-o", "yaml", "-n", NS,
                                    "dnsdetectconfig", "default").stdout)
    r = daemon_explain(str(seed))
    assert r.returncode == 0, r.stderr
    assert '"dot_enabled":false' in r.stdout


# Validation: what the loader refuses, the API server refuses too.

def with_field(path, value):
    """A config whose spec has value at dotted path (None: delete it)."""
    spec = {}
    node = spec
    keys = path.split(".")
    for k in keys[:-1]:
        node = node.setdefault(k, {})
    node[keys[-1]] = value
    return spec


BAD = [
    ("source.mode", "bogus", "Unsupported value"),
    ("source.fallback", "kafka", "Unsupported value"),
    ("detectors.dga.minEntropy", 9, "less than or equal to 8"),
    ("detectors.dga.minLength", 0, "greater than or equal to 1"),
    ("detectors.slowQuery.latencyP99", "fast", "should match"),
    ("detectors.slowQuery.latencyP99", "500", "should match"),
    ("detectors.tunneling.window", "0s", "must be above zero"),
    ("detectors.tunneling.maxLabelLength", 64, "less than or equal to 63"),
    ("detectors.exfiltration.bytesPerWindow", 0, "greater than or equal"),
    ("detectors.youngDomain.thresholdDays", 36501, "less than or equal"),
    ("detectors.youngDomain.rateLimit", 0, "greater than 0"),
    ("detectors.blocklist.namespaceConfigMaps", [{"namespace": "ops"}],
     "Required value"),
    ("detectors.blocklist.files", [""], "at least 1 chars"),
    ("detectors.dga.enabled", "maybe", "must be of type boolean"),
    ("detectors.dga.threshold", 3, "unknown field"),
    ("detectors.nxdomain", {"enabled": True}, "unknown field"),
]

GOOD = [
    ("detectors.dga.minEntropy", 8),
    ("detectors.tunneling.maxLabelLength", 63),
    ("detectors.youngDomain.rateLimit", 1000),
    ("detectors.youngDomain.rateLimit", 0.5),
    ("detectors.slowQuery.latencyP99", "1.5s"),
    ("detectors.tunneling.window", "1h30m"),
    ("detectors.exfiltration.window", "250us"),
    ("source.silenceAfter", "+90s"),
    ("source.fallback", "pcap"),
    ("source.fallback", ""),
]


def server_dry_run(cluster, obj):
    return cluster.kubectl("create", "--dry-run=server", "-f", "-",
                           input=json.dumps(obj), check=False)


def loader_verdict(obj, tmp_path):
    """0 when the daemon loads obj, else its exit status; None without a
    daemon."""
    if daemon() is None:
        return None
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(obj))
    return daemon_explain(str(path)).returncode


@pytest.mark.parametrize("path,value", GOOD)
def test_valid_edges_accepted(cluster, tmp_path, path, value):
    obj = config("good", with_field(path, value))
    r = server_dry_run(cluster, obj)
    assert r.returncode == 0, r.stderr
    assert loader_verdict(obj, tmp_path) in (0, None)


@pytest.mark.parametrize("path,value,message", BAD)
def test_invalid_rejected(cluster, tmp_path, path, value, message):
    obj = config("bad", with_field(path, value))
    r = server_dry_run(cluster, obj)
    assert r.returncode != 0, "accepted: %r" % obj
    assert message in r.stderr, r.stderr
    assert path.split(".")[-1] in r.stderr, r.stderr
    assert loader_verdict(obj, tmp_path) != 0, "the daemon loads it"


# SecurityEvent.

def test_securityevent_columns(cluster):
    ev = security_event("se-00000000000000a1")
    cluster.kubectl("create", "-f", "-", input=json.dumps(ev))
    rows = table(cluster.kubectl("get", "securityevents").stdout)
    row = [r for r in rows if r["NAME"] == "se-00000000000000a1"]
    assert row, rows
    assert list(row[0]) == ["NAME", "CLASS", "TYPE", "SEVERITY", "SUBJECT",
                            "AGE"]
    assert (row[0]["CLASS"], row[0]["TYPE"], row[0]["SEVERITY"],
            row[0]["SUBJECT"]) == ("Detection", "DNSToBlocklistedFQDN",
                                   "high", "10.0.0.7")
    got = cluster.get_json("se", "se-00000000000000a1")
    assert got["spec"] == ev["spec"]
    assert "namespace" not in got["metadata"]


@pytest.mark.parametrize("spec,message", [
    ({"class": "Incident"}, "Unsupported value"),
    ({"severity": "urgent"}, "Unsupported value"),
    ({"detectedAt": "yesterday"}, "date-time"),
    ({"subject": {"kind": "Node", "name": "n1"}}, "Unsupported value"),
    ({"subject": {"kind": "Pod"}}, "Required value"),
    ({"type": "dns tunneling"}, "should match"),
    ({"signals": {"k%d" % i: "v" for i in range(129)}},
     "must have at most 128 items"),
])
def test_bad_securityevent_rejected(cluster, spec, message):
    r = server_dry_run(cluster, security_event("se-bad", **spec))
    assert r.returncode != 0
    assert message in r.stderr, r.stderr


def test_daemon_securityevents_accepted(cluster):
    """Every SecurityEvent the daemon writes for the bundled sample is
    one the API server takes."""
    if daemon() is None:
        pytest.skip("daemon not built (set UGALLU_BIN)")
    sample = os.path.join(k8s.ROOT, "data", "sample")
    r = subprocess.run([daemon(), "--standalone", "--config",
                        os.path.join(sample, "config.yaml"), "--replay",
                        os.path.join(sample, "sample.dnstap"),
                        "--metrics-bind-address", "0",
                        "--health-probe-bind-address", "0"],
                       cwd=k8s.ROOT, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    events = {}
    for line in r.stdout.splitlines():
        ev = json.loads(line)
        events[ev["metadata"]["name"]] = ev  # a merged repeat: same name
    assert len(events) >= 5
    items = {"apiVersion": "v1", "kind": "List",
             "items": list(events.values())}
    out = cluster.kubectl("create", "--dry-run=server", "-o", "name", "-f",
                          "-", input=json.dumps(items))
    assert out.stdout.count("securityevent") == len(events), out.stdout


# RBAC: the ServiceAccount's token, against DESIGN 2.3 less the verbs the
# daemon never uses (test_rbac_rules.py proves every grant left is needed).

CAN = [
    ("list", "dnsdetectconfigs", NS), ("watch", "dnsdetectconfigs", NS),
    ("patch", "dnsdetectconfigs --subresource=status", NS),
    ("create", "securityevents", None),
    ("create", "events", "default"),
    ("list", "pods", "default"), ("watch", "pods", "kube-system"),
    ("list", "secrets/ugallu-coredns-grpc-token", NS),
    ("watch", "secrets/ugallu-coredns-grpc-token", NS),
    ("list", "endpointslices.discovery.k8s.io", "kube-system"),
    ("watch", "endpointslices.discovery.k8s.io", "kube-system"),
    ("get", "leases.coordination.k8s.io", NS),
    ("create", "leases.coordination.k8s.io", NS),
    ("patch", "leases.coordination.k8s.io", NS),
    ("list", "configmaps", "ops"), ("watch", "configmaps", "ops"),
]

CANNOT = [
    ("delete", "securityevents", None), ("get", "securityevents", None),
    ("list", "securityevents", None), ("update", "securityevents", None),
    ("create", "dnsdetectconfigs", NS), ("delete", "dnsdetectconfigs", NS),
    # Not used by the daemon (test_rbac_rules.py shows each is needed).
    ("get", "dnsdetectconfigs", NS), ("update", "dnsdetectconfigs", NS),
    ("patch", "dnsdetectconfigs", NS),
    ("update", "dnsdetectconfigs --subresource=status", NS),
    ("patch", "events", NS), ("delete", "leases.coordination.k8s.io", NS),
    ("update", "leases.coordination.k8s.io", NS),
    ("get", "configmaps", "ops"),
    ("get", "secrets/other", NS), ("list", "secrets", NS),
    ("get", "secrets/ugallu-coredns-grpc-token", NS),
    ("get", "secrets/ugallu-coredns-grpc-token", "default"),
    ("get", "pods", "default"),
    ("get", "endpointslices.discovery.k8s.io", "kube-system"),
    ("list", "endpointslices.discovery.k8s.io", "default"),
    ("get", "configmaps", "default"), ("get", "configmaps", NS),
    ("create", "leases.coordination.k8s.io", "default"),
    ("create", "pods", "default"), ("delete", "pods", "default"),
    ("delete", "events", "default"), ("create", "serviceaccounts/token", NS),
    ("create", "clusterroles", None), ("escalate", "roles", NS),
]


@pytest.fixture(scope="module")
def sa_kubeconfig(cluster):
    token = cluster.kubectl("create", "token", SA, "-n", NS,
                            "--duration=1h").stdout.strip()
    assert token.count(".") == 2, "not a JWT: %r" % token[:40]
    return cluster.token_kubeconfig(token, SA)


def sa_patch_status(cluster, kubeconfig, name, patch):
    """PATCH the config's status with the token of kubeconfig (merge
    patch, no read first); returns the HTTP status."""
    with open(kubeconfig) as f:
        token = yaml.safe_load(f)["users"][0]["user"]["token"]
    ctx = ssl.create_default_context(
        cafile=os.path.join(cluster.dir, "pki", "ca.crt"))
    req = urllib.request.Request(
        "%s/apis/security.ugallu.io/v1alpha1/namespaces/%s/"
        "dnsdetectconfigs/%s/status" % (cluster.server(), NS, name),
        data=json.dumps(patch).encode(), method="PATCH",
        headers={"Authorization": "Bearer " + token,
                 "Content-Type": "application/merge-patch+json"})
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def can_i(cluster, kubeconfig, verb, resource, ns):
    args = ["auth", "can-i", verb] + resource.split()
    args += ["-n", ns] if ns else []
    r = cluster.kubectl(*args, kubeconfig=kubeconfig, check=False)
    assert r.stdout.strip() in ("yes", "no"), r.stderr
    return r.stdout.strip() == "yes"


def test_token_is_the_serviceaccount(cluster, sa_kubeconfig):
    r = cluster.kubectl("auth", "whoami", "-o", "json",
                        kubeconfig=sa_kubeconfig)
    who = json.loads(r.stdout)["status"]["userInfo"]["username"]
    assert who == "system:serviceaccount:%s:%s" % (NS, SA)


def test_serviceaccount_permissions(cluster, sa_kubeconfig):
    wrong = []
    for want, table_ in ((True, CAN), (False, CANNOT)):
        for verb, resource, ns in table_:
            if can_i(cluster, sa_kubeconfig, verb, resource, ns) != want:
                wrong.append("%s %s in %s: %s" % (verb, resource, ns,
                                                  not want))
    assert not wrong, "\n".join(wrong)


def test_serviceaccount_does_its_job(cluster, sa_kubeconfig):
    """Real calls with the token: read the config, write its status,
    create a SecurityEvent, read the plugin token; and the refusals."""
    sa = {"kubeconfig": sa_kubeconfig}
    cluster.apply(SEED)
    for name in ("ugallu-coredns-grpc-token", "other"):
        cluster.kubectl("create", "secret", "generic", name, "-n", NS,
                        "--from-literal=token=t0ps3cret")

    cluster.kubectl("get", "dnsdetectconfigs", "-n", NS, **sa)
    status = {"status": {"activeSource": "dnstap", "inflightLookups": 2,
                         "lastConfigLoadAt": "2026-12-03T10:00:00Z",
                         "detectors": {"dga": {"enabled": True,
                                               "fires": 3}},
                         "conditions": [{
                             "type": "SourceConnected", "status": "False",
                             "reason": "FellBack", "message": "primary silent",
                             "lastTransitionTime": "2026-12-03T10:00:00Z"}]}}
    # kubectl patch reads the object first (a get the token lacks): the
    # daemon's own request, a bare merge patch of the status.
    assert sa_patch_status(cluster, sa_kubeconfig, "default",
                           status) == 200
    rows = table(cluster.kubectl("get", "dnsdetectconfigs", "-n",
                                 NS).stdout)
    row = [r for r in rows if r["NAME"] == "default"][0]
    assert (row["SOURCE"], row["ACTIVE SOURCE"]) == ("coredns-ugallu",
                                                     "dnstap")
    assert list(row) == ["NAME", "SOURCE", "ACTIVE SOURCE", "AGE"]

    cluster.kubectl("create", "-f", "-", **sa,
                    input=json.dumps(security_event("se-00000000000000b2")))
    got = cluster.get_json("secret", "-n", NS, "--field-selector",
                           "metadata.name=ugallu-coredns-grpc-token", **sa)
    assert got["items"][0]["data"]["token"]

    for args in (("delete", "se", "se-00000000000000b2"),
                 ("get", "secret", "other", "-n", NS),
                 ("get", "se", "se-00000000000000b2"),
                 ("delete", "dnsdetectconfig", "default", "-n", NS)):
        r = cluster.kubectl(*args, check=False, **sa)
        assert r.returncode != 0 and "Forbidden" in r.stderr, (args, r)
