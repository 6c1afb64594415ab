"""The C Kubernetes client (src/k8s/kclient.c) against a real API server.

Drives tests/k8s/kclient_cli against a control plane of this module's
own (tests/system/k8s.py), because two tests here disturb it: one
restarts kube-apiserver, one starts watches from a resourceVersion the
server no longer has.  Covers create (and AlreadyExists), get, merge
patch, status patch, delete, kubeconfig credentials given as base64
blobs, list+watch with ADDED/MODIFIED/DELETED and BOOKMARK events, a
watch from a too-old resourceVersion relisting, a reconnect across an
API server restart, and ServiceAccount token auth in the in-cluster
layout with the token rotated under a running client.

The HTTP 410 answer (as opposed to the ERROR event a real API server
sends for a too-old resourceVersion) and 429 with Retry-After are played
by a small fake server, since kube-apiserver does not produce them on
demand.

The driver is found next to the daemon: $UGALLU_KCLIENT_CLI, else
<dir of UGALLU_BIN>/tests/kclient_cli, else build/tests/kclient_cli.
"""

import base64
import http.server
import json
import os
import queue
import signal
import subprocess
import threading
import time

import pytest

import k8s

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
GROUP = "/apis/security.ugallu.io/v1alpha1"
NS = "ugallu-system"
COLL = GROUP + "/namespaces/" + NS + "/dnsdetectconfigs"


def find_cli():
    env = os.environ.get("UGALLU_KCLIENT_CLI")
    if env:
        return env
    cands = []
    if os.environ.get("UGALLU_BIN"):
        cands.append(os.path.join(os.path.dirname(os.environ["UGALLU_BIN"]),
                                  "tests", "kclient_cli"))
    cands.append(os.path.join(ROOT, "build", "tests", "kclient_cli"))
    for c in cands:
        if os.access(c, os.X_OK):
            return c
    pytest.skip("kclient_cli not built (looked at %s)" % ", ".join(cands))


@pytest.fixture(scope="module")
def cli():
    return find_cli()


@pytest.fixture(scope="module")
def cp(tmp_path_factory):
    """A private control plane with deploy/crds and deploy/rbac applied."""
    for cluster in k8s.cluster_fixture(tmp_path_factory):
        cluster.apply_deploy()
        yield cluster


def example(name):
    """The DESIGN example DNSDetectConfig, renamed."""
    import yaml
    with open(os.path.join(ROOT, "deploy", "examples",
                           "dnsdetectconfig.yaml")) as f:
        obj = yaml.safe_load(f)
    obj["metadata"]["name"] = name
    return obj


def run(cli, kubeconfig, *args, input=None, env=None, check=None):
    """Run kclient_cli once.  check: the exit status required."""
    cmd = [cli] + (["--kubeconfig", kubeconfig] if kubeconfig
                   else ["--in-cluster"]) + list(args)
    r = subprocess.run(cmd, input=input, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=60,
                       env=env)
    if check is not None and r.returncode != check:
        pytest.fail("%s: exit %d (want %d)\nstdout: %s\nstderr: %s"
                    % (" ".join(args), r.returncode, check, r.stdout[-2000:],
                       r.stderr[-2000:]))
    return r


def create(cli, cp, name, tmp_path):
    path = tmp_path / (name + ".json")
    path.write_text(json.dumps(example(name)))
    return run(cli, cp.kubeconfig, "create", COLL, str(path), check=0)


class Watch:
    """kclient_cli watch in the background; lines collected by a thread."""

    def __init__(self, cli, kubeconfig, *args, env=None):
        cmd = [cli] + (["--kubeconfig", kubeconfig] if kubeconfig
                       else ["--in-cluster"]) + ["watch"] + list(args)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True,
                                     env=env)
        self.lines = []
        self.q = queue.Queue()
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        for line in self.proc.stdout:
            ev = json.loads(line)
            if ev["type"] != "BOOKMARK":
                ev.pop("object", None)
            self.lines.append(ev)
            self.q.put(ev)

    def wait_for(self, pred, timeout=30, what="event"):
        deadline = time.monotonic() + timeout
        for ev in list(self.lines):
            if pred(ev):
                return ev
        while time.monotonic() < deadline:
            try:
                ev = self.q.get(timeout=0.2)
            except queue.Empty:
                continue
            if pred(ev):
                return ev
        pytest.fail("no %s within %ds; got %s" % (what, timeout,
                                                  self.lines[-20:]))

    def stop(self):
        """SIGTERM, wait, return the STATS line."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
        self.t.join(timeout=5)
        stats = [e for e in self.lines if e["type"] == "STATS"]
        assert stats, "no STATS line; stderr: " + self.proc.stderr.read()
        return stats[-1]


def typed(name, kind):
    return lambda ev: ev["type"] == kind and ev.get("name") == name


# ---- requests ---------------------------------------------------------------


def test_create_get_patch_status_delete(cli, cp, tmp_path):
    made = json.loads(create(cli, cp, "crud", tmp_path).stdout)
    assert made["metadata"]["name"] == "crud"
    # The CRD's defaults are applied on create.
    assert made["spec"]["detectors"]["dga"]["minLength"] == 12

    again = run(cli, cp.kubeconfig, "create", COLL,
                str(tmp_path / "crud.json"), check=3)
    assert "status=409" in again.stderr
    assert "reason=AlreadyExists" in again.stderr

    got = json.loads(run(cli, cp.kubeconfig, "get", COLL + "/crud",
                         check=0).stdout)
    assert got["metadata"]["uid"] == made["metadata"]["uid"]

    patched = json.loads(run(
        cli, cp.kubeconfig, "merge-patch", COLL + "/crud",
        '{"spec":{"detectors":{"dga":{"minLength":14},'
        '"doh":{"enabled":false}}}}', check=0).stdout)
    assert patched["spec"]["detectors"]["dga"]["minLength"] == 14
    assert patched["spec"]["detectors"]["dga"]["minEntropy"] == 3.5
    assert patched["spec"]["detectors"]["doh"]["enabled"] is False
    assert patched["metadata"]["generation"] == 2

    # The status subresource takes status and ignores spec.
    st = json.loads(run(
        cli, cp.kubeconfig, "patch-status", COLL + "/crud",
        '{"status":{"activeSource":"dnstap","inflightLookups":3},'
        '"spec":{"detectors":{"dga":{"minLength":20}}}}', check=0).stdout)
    assert st["status"]["activeSource"] == "dnstap"
    assert st["status"]["inflightLookups"] == 3
    assert st["spec"]["detectors"]["dga"]["minLength"] == 14
    assert st["metadata"]["generation"] == 2
    viewed = cp.get_json("dnsdetectconfig", "crud", "-n", NS)
    assert viewed["status"]["activeSource"] == "dnstap"

    # The API server's validation answer comes back as 422.
    bad = run(cli, cp.kubeconfig, "patch-status", COLL + "/crud",
              '{"status":{"activeSource":"carrier-pigeon"}}', check=1)
    assert "status=422" in bad.stderr and "reason=Invalid" in bad.stderr

    run(cli, cp.kubeconfig, "delete", COLL + "/crud", check=0)
    gone = run(cli, cp.kubeconfig, "get", COLL + "/crud", check=4)
    assert "status=404" in gone.stderr and "reason=NotFound" in gone.stderr


def test_list(cli, cp, tmp_path):
    for n in ("list-a", "list-b"):
        create(cli, cp, n, tmp_path)
    out = json.loads(run(cli, cp.kubeconfig, "list", COLL, check=0).stdout)
    names = {i["metadata"]["name"] for i in out["items"]}
    assert {"list-a", "list-b"} <= names
    assert int(out["resourceVersion"]) > 0

    sel = json.loads(run(cli, cp.kubeconfig, "list", COLL,
                         "fieldSelector=metadata.name%3Dlist-b",
                         check=0).stdout)
    assert [i["metadata"]["name"] for i in sel["items"]] == ["list-b"]
    for n in ("list-a", "list-b"):
        run(cli, cp.kubeconfig, "delete", COLL + "/" + n, check=0)


def test_concurrent_requests(cli, cp):
    """Four threads on one client (one connection cache between them)."""
    r = run(cli, cp.kubeconfig, "hammer", "4", "50",
            "/api/v1/namespaces/" + NS, check=0)
    out = json.loads(r.stdout)
    assert out["ok"] == 200 and out["failed"] == 0


def test_blob_credentials(cli, cp, tmp_path):
    """certificate-authority-data, client-certificate-data and
    client-key-data reach libcurl as blobs; a wrong CA is refused."""
    pki = os.path.join(cp.dir, "pki")

    def b64(name):
        with open(os.path.join(pki, name), "rb") as f:
            return base64.b64encode(f.read()).decode()

    def config(ca_b64):
        return ("apiVersion: v1\nkind: Config\nclusters:\n- name: c\n"
                "  cluster:\n    server: %s\n"
                "    certificate-authority-data: %s\n"
                "users:\n- name: u\n  user:\n"
                "    client-certificate-data: %s\n"
                "    client-key-data: %s\n"
                "contexts:\n- name: blobs\n  context: {cluster: c, user: u}\n"
                "- name: other\n  context: {cluster: c}\n"
                "current-context: other\n"
                % (cp.server(), ca_b64, b64("admin.crt"), b64("admin.key")))

    good = tmp_path / "blobs.kubeconfig"
    good.write_text(config(b64("ca.crt")))
    r = run(cli, str(good), "--context", "blobs", "get",
            "/api/v1/namespaces/" + NS, check=0)
    assert json.loads(r.stdout)["metadata"]["name"] == NS

    # Without --context the current context has no user: anonymous, 403.
    r = run(cli, str(good), "get", "/api/v1/namespaces/" + NS, check=5)
    assert "status=403" in r.stderr

    # The server certificate is not signed by this CA.
    wrong = tmp_path / "wrong.kubeconfig"
    wrong.write_text(config(b64("admin.crt")))
    r = run(cli, str(wrong), "--context", "blobs", "get",
            "/api/v1/namespaces/" + NS, check=1)
    assert "status=0" in r.stderr and "retryable=1" in r.stderr


# ---- watch ------------------------------------------------------------------


def test_watch_events_and_bookmarks(cli, cp, tmp_path):
    w = Watch(cli, cp.kubeconfig, COLL, "--timeout-seconds", "5")
    try:
        first = w.wait_for(lambda e: e["type"] == "RELISTED",
                           what="RELISTED")
        create(cli, cp, "watched", tmp_path)
        w.wait_for(typed("watched", "ADDED"), what="ADDED")
        run(cli, cp.kubeconfig, "merge-patch", COLL + "/watched",
            '{"spec":{"detectors":{"dga":{"minLength":15}}}}', check=0)
        w.wait_for(typed("watched", "MODIFIED"), what="MODIFIED")
        run(cli, cp.kubeconfig, "patch-status", COLL + "/watched",
            '{"status":{"activeSource":"pcap"}}', check=0)
        # The watch request ends every 5 s: bookmark before, reconnect
        # after, and nothing is lost across it.
        bm = w.wait_for(lambda e: e["type"] == "BOOKMARK", timeout=20,
                        what="BOOKMARK")
        assert bm["object"]["metadata"]["resourceVersion"] == bm["rv"]
        time.sleep(4)
        run(cli, cp.kubeconfig, "delete", COLL + "/watched", check=0)
        w.wait_for(typed("watched", "DELETED"), what="DELETED")
    finally:
        stats = w.stop()

    mods = [e for e in w.lines if typed("watched", "MODIFIED")(e)]
    assert len(mods) == 2
    seq = [int(e["rv"]) for e in w.lines if e["type"] not in
           ("STATS",)]
    assert seq == sorted(seq) and seq[0] == int(first["rv"])
    assert stats["relists"] == 1 and stats["gone"] == 0
    assert stats["events"] == 4
    assert stats["bookmarks"] >= 1
    assert stats["reconnects"] >= 1
    assert stats["errors"] == 0


def test_watch_from_too_old_rv_relists(cli, cp, tmp_path):
    """A real API server answers a watch from a resourceVersion older than
    its watch cache with HTTP 200 and an ERROR event, code 410.  The cache
    of a resource starts at the resourceVersion current when the cache was
    made, so "1" is always too old; no etcd compaction is needed."""
    create(cli, cp, "old-rv", tmp_path)
    w = Watch(cli, cp.kubeconfig, COLL, "--rv", "1", "--timeout-seconds",
              "30")
    try:
        rel = w.wait_for(lambda e: e["type"] == "RELISTED", what="RELISTED")
        assert "old-rv" in rel["names"]
        run(cli, cp.kubeconfig, "delete", COLL + "/old-rv", check=0)
        w.wait_for(typed("old-rv", "DELETED"), what="DELETED after relist")
    finally:
        stats = w.stop()
    assert stats["gone"] == 1 and stats["relists"] == 1
    assert "code=410" in w.proc.stderr.read()


def restart_apiserver(cp):
    """Stop kube-apiserver and start it again with the same command
    line; etcd stays up.  Returns once /readyz answers."""
    cp.restart_apiserver()


def test_watch_reconnects_after_apiserver_restart(cli, cp, tmp_path):
    w = Watch(cli, cp.kubeconfig, COLL, "--timeout-seconds", "300")
    try:
        w.wait_for(lambda e: e["type"] == "RELISTED", what="RELISTED")
        create(cli, cp, "before-restart", tmp_path)
        w.wait_for(typed("before-restart", "ADDED"), what="ADDED")
        restart_apiserver(cp)
        create(cli, cp, "after-restart", tmp_path)
        # The new server's watch cache starts after our resourceVersion,
        # so the watch may come back through a relist instead of an ADDED
        # (410 Gone); either way the object must show, and the watch must
        # be live again.
        w.wait_for(lambda e: typed("after-restart", "ADDED")(e) or (
            e["type"] == "RELISTED" and "after-restart" in e["names"]),
            timeout=45, what="after-restart, by ADDED or RELISTED")
        run(cli, cp.kubeconfig, "merge-patch", COLL + "/after-restart",
            '{"spec":{"detectors":{"dga":{"minLength":16}}}}', check=0)
        w.wait_for(typed("after-restart", "MODIFIED"),
                   what="MODIFIED after the restart")
    finally:
        stats = w.stop()
    assert stats["reconnects"] >= 1 and stats["errors"] >= 1
    for n in ("before-restart", "after-restart"):
        run(cli, cp.kubeconfig, "delete", COLL + "/" + n, check=0)


# ---- ServiceAccount token, in-cluster layout --------------------------------


def test_serviceaccount_token_rotation(cli, cp, tmp_path):
    """In-cluster config (KUBERNETES_SERVICE_HOST/PORT and an UGALLU_SA_DIR
    holding token, ca.crt and namespace), one client process for every
    request: the token file is rewritten between requests and each
    request uses what the file holds at that moment."""
    def token():
        return cp.kubectl("create", "token", "ugallu-dns-detect", "-n", NS,
                          "--duration", "10m").stdout.strip()

    sa = tmp_path / "sa"
    sa.mkdir()
    (sa / "token").write_text(token())
    (sa / "namespace").write_text(NS)
    with open(os.path.join(cp.dir, "pki", "ca.crt")) as f:
        (sa / "ca.crt").write_text(f.read())
    host, port = cp.server().rsplit("/", 1)[1].rsplit(":", 1)
    env = dict(os.environ, KUBERNETES_SERVICE_HOST=host,
               KUBERNETES_SERVICE_PORT=port, UGALLU_SA_DIR=str(sa))
    create(cli, cp, "sa-target", tmp_path)

    p = subprocess.Popen([cli, "--in-cluster", "get-lines"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=env)

    def get(path):
        p.stdin.write(path + "\n")
        p.stdin.flush()
        return json.loads(p.stdout.readline())

    try:
        # A list: the ServiceAccount may list and watch configs, not get
        # one by name.
        assert get(COLL)["status"] == 200
        # Least privilege: the ServiceAccount, not the admin, is asking.
        denied = get("/api/v1/namespaces/kube-system/secrets")
        assert denied["status"] == 403 and denied["reason"] == "Forbidden"

        (sa / "token").write_text("not-a-valid-token")
        assert get(COLL)["status"] == 401

        (sa / "token").write_text(token())
        assert get(COLL)["status"] == 200

        # kubelet rotates by swapping files: a new inode, same name.
        new = sa / "token.new"
        new.write_text(token() + "\n")
        os.replace(new, sa / "token")
        assert get(COLL)["status"] == 200
    finally:
        p.stdin.close()
        p.wait(timeout=10)
    assert p.returncode == 0

    # A status patch as the ServiceAccount (the daemon's status writer).
    r = run(cli, None, "patch-status", COLL + "/sa-target",
            '{"status":{"activeSource":"tetragon"}}', env=env, check=0)
    assert json.loads(r.stdout)["status"]["activeSource"] == "tetragon"
    run(cli, cp.kubeconfig, "delete", COLL + "/sa-target", check=0)


# ---- HTTP 410 and 429 from a scripted server --------------------------------


class FakeAPI(http.server.BaseHTTPRequestHandler):
    """Plays a list, a watch answered 410, a relist, a watch answered 429
    with Retry-After: 2, then a watch streaming one ADDED event."""

    protocol_version = "HTTP/1.1"
    script = []
    seen = []

    def log_message(self, *a):
        pass

    def do_GET(self):
        FakeAPI.seen.append((time.monotonic(), self.path))
        status, headers, body = (FakeAPI.script.pop(0) if FakeAPI.script
                                 else (503, {}, b"{}"))
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)


def listing(rv, names):
    return json.dumps({"kind": "List", "metadata": {"resourceVersion": rv},
                       "items": [{"metadata": {"name": n,
                                               "resourceVersion": rv}}
                                 for n in names]}).encode()


def test_http_410_and_retry_after(cli, tmp_path):
    gone = json.dumps({"kind": "Status", "code": 410, "reason": "Expired",
                       "message": "too old resource version"}).encode()
    slow = json.dumps({"kind": "Status", "code": 429,
                       "reason": "TooManyRequests"}).encode()
    added = json.dumps({"type": "ADDED", "object": {"metadata": {
        "name": "c", "resourceVersion": "21"}}}).encode() + b"\n"
    FakeAPI.script = [
        (200, {}, listing("10", ["a"])),
        (410, {}, gone),
        (200, {}, listing("20", ["a", "b"])),
        (429, {"Retry-After": "2"}, slow),
        (200, {}, added),
    ]
    FakeAPI.seen = []
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeAPI)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    cfg = tmp_path / "fake.kubeconfig"
    cfg.write_text("clusters: [{name: f, cluster: {server: 'http://127.0.0."
                   "1:%d'}}]\ncontexts: [{name: f, context: {cluster: f}}]\n"
                   "current-context: f\n" % srv.server_address[1])
    w = Watch(cli, str(cfg), "/api/v1/namespaces/x/configmaps",
              "--timeout-seconds", "7")
    try:
        w.wait_for(typed("c", "ADDED"), timeout=20, what="ADDED")
    finally:
        stats = w.stop()
        srv.shutdown()

    rel = [e for e in w.lines if e["type"] == "RELISTED"]
    assert [r["names"] for r in rel] == [["a"], ["a", "b"]]
    assert [r["rv"] for r in rel] == ["10", "20"]
    paths = [p for _, p in FakeAPI.seen]
    assert "watch=1" not in paths[0] and "limit=500" in paths[0]
    assert "resourceVersion=10" in paths[1]
    assert "allowWatchBookmarks=true" in paths[1]
    assert "timeoutSeconds=7" in paths[1]
    assert "watch=1" not in paths[2]
    assert "resourceVersion=20" in paths[3]
    assert "resourceVersion=20" in paths[4]
    # Retry-After: 2 was honoured (the backoff alone is under a second).
    assert FakeAPI.seen[4][0] - FakeAPI.seen[3][0] >= 1.9
    assert stats["gone"] == 1 and stats["relists"] == 2
    assert stats["errors"] >= 1
    if len(paths) > 5:
        assert "resourceVersion=21" in paths[5]
