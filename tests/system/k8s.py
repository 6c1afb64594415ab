"""A real Kubernetes control plane for the system tests.

kube-apiserver and etcd on loopback, started by scripts/k8s/ (see
docs/TESTING-K8S.md): RBAC on, TokenRequest on, nothing else running.
The conftest fixture `k8s_cluster` starts one per test session and
stops it by PID at the end.

    cluster.kubectl("get", "ns")              # as the admin
    cluster.kubectl("get", "pods", token=t)   # as whoever t is
    cluster.stop_apiserver()                  # etcd stays up
    cluster.start_apiserver()                 # same port, same certs
    cluster.signal_apiserver(signal.SIGSTOP)  # hung, not gone
"""

import json
import os
import signal
import subprocess
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SCRIPTS = os.path.join(ROOT, "scripts", "k8s")
DEPLOY = os.path.join(ROOT, "deploy")

# The first build compiles kube-apiserver and kubectl: minutes, not hours.
BUILD_TIMEOUT = 1800
START_TIMEOUT = 120
# build-control-plane.sh exits 3 when Go or the module proxy fails it.
BUILD_EXIT_OUTSIDE = 3


class ControlPlane:
    """One etcd + kube-apiserver pair living in directory `dir`."""

    def __init__(self, dir):
        self.dir = dir
        self.bin = None
        self.kubeconfig = None
        self.build_seconds = None
        self.start_seconds = None

    def build(self):
        """Build (or find cached) kube-apiserver and kubectl.  Skips the
        test session when the build fails for a reason outside the
        project (no Go, module proxy unreachable); fails otherwise."""
        t0 = time.monotonic()
        r = subprocess.run([os.path.join(SCRIPTS, "build-control-plane.sh")],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=BUILD_TIMEOUT)
        self.build_seconds = time.monotonic() - t0
        if r.returncode == BUILD_EXIT_OUTSIDE:
            pytest.skip("control plane not built (Go or the module proxy "
                        "failed): " + r.stderr.strip()[-500:])
        if r.returncode != 0:
            pytest.fail("build-control-plane.sh failed:\n" + r.stderr[-3000:])
        self.bin = r.stdout.strip().splitlines()[-1]

    def start(self):
        """Start etcd and kube-apiserver; returns self once /readyz."""
        t0 = time.monotonic()
        r = subprocess.run([os.path.join(SCRIPTS, "start-control-plane.sh"),
                            self.dir], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True,
                           timeout=START_TIMEOUT)
        self.start_seconds = time.monotonic() - t0
        if r.returncode != 0:
            self.stop()
            pytest.fail("start-control-plane.sh failed:\n" + r.stderr[-3000:])
        self.kubeconfig = r.stdout.strip().splitlines()[-1]
        return self

    def stop(self):
        subprocess.run([os.path.join(SCRIPTS, "stop-control-plane.sh"),
                        self.dir], timeout=60, check=False)

    def _pids(self):
        with open(os.path.join(self.dir, "pids")) as f:
            return [line.split() for line in f if line.strip()]

    def _write_pids(self, rows):
        with open(os.path.join(self.dir, "pids"), "w") as f:
            for name, pid in rows:
                f.write("%s %s\n" % (name, pid))

    def stop_apiserver(self):
        """Stop kube-apiserver alone (by the PID recorded in DIR/pids:
        SIGTERM, SIGKILL after 10 s); etcd keeps running.  Remembers its
        command line for start_apiserver()."""
        rows = self._pids()
        pid = int([p for n, p in rows if n == "kube-apiserver"][0])
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            self._api_argv = [a.decode() for a in f.read().split(b"\0")
                              if a]
        assert "kube-apiserver" in self._api_argv[0], self._api_argv
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while os.path.exists("/proc/%d" % pid):
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                deadline = float("inf")
            time.sleep(0.05)
        self._write_pids([r for r in rows if r[0] != "kube-apiserver"])

    def start_apiserver(self):
        """Start kube-apiserver again with the command line
        stop_apiserver() saw (same port, certificates and etcd); returns
        once /readyz answers."""
        log = open(os.path.join(self.dir, "kube-apiserver.log"), "a")
        p = subprocess.Popen(self._api_argv, stdin=subprocess.DEVNULL,
                             stdout=log, stderr=log, start_new_session=True)
        log.close()
        self._write_pids(self._pids() + [["kube-apiserver", str(p.pid)]])
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.kubectl("get", "--raw", "/readyz",
                            check=False).returncode == 0:
                return
            if p.poll() is not None:
                pytest.fail("kube-apiserver exited at restart")
            time.sleep(0.2)
        pytest.fail("kube-apiserver not ready after restart")

    def signal_apiserver(self, sig):
        """Send sig to kube-apiserver (SIGSTOP: it still accepts
        connections but answers nothing until SIGCONT)."""
        rows = self._pids()
        os.kill(int([p for n, p in rows if n == "kube-apiserver"][0]), sig)

    def restart_apiserver(self):
        self.stop_apiserver()
        time.sleep(1)
        self.start_apiserver()

    def server(self):
        """The API server's URL, from the admin kubeconfig."""
        with open(self.kubeconfig) as f:
            for line in f:
                if line.strip().startswith("server:"):
                    return line.split(":", 1)[1].strip()
        raise AssertionError("no server in " + self.kubeconfig)

    def token_kubeconfig(self, token, name):
        """Write a kubeconfig that authenticates with `token` only (no
        client certificate), return its path."""
        path = os.path.join(self.dir, name + ".kubeconfig")
        ca = os.path.join(self.dir, "pki", "ca.crt")
        with open(path, "w") as f:
            f.write("apiVersion: v1\nkind: Config\n"
                    "clusters:\n- name: test\n  cluster:\n"
                    "    server: %s\n    certificate-authority: %s\n"
                    "users:\n- name: %s\n  user:\n    token: %s\n"
                    "contexts:\n- name: test\n"
                    "  context: { cluster: test, user: %s }\n"
                    "current-context: test\n"
                    % (self.server(), ca, name, token, name))
        os.chmod(path, 0o600)
        return path

    def kubectl(self, *args, input=None, kubeconfig=None, check=True,
                timeout=60):
        """Run kubectl as the admin (or with another kubeconfig).
        Returns the CompletedProcess; with check, a failure fails the
        test showing kubectl's stderr."""
        cmd = [os.path.join(self.bin, "kubectl"),
               "--kubeconfig", kubeconfig or self.kubeconfig] + list(args)
        r = subprocess.run(cmd, input=input, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True,
                           timeout=timeout)
        if check and r.returncode != 0:
            pytest.fail("kubectl %s failed (%d):\n%s"
                        % (" ".join(args), r.returncode, r.stderr))
        return r

    def get_json(self, *args, **kw):
        return json.loads(self.kubectl("get", "-o", "json", *args,
                                       **kw).stdout)

    def apply(self, path, **kw):
        return self.kubectl("apply", "-f", path, **kw)

    def apply_deploy(self):
        """Apply deploy/crds (waiting for Established) and deploy/rbac,
        creating the blocklist namespace "ops" the RBAC example names."""
        self.apply(os.path.join(DEPLOY, "crds"))
        self.kubectl("wait", "--for=condition=Established", "--timeout=60s",
                     "crd/dnsdetectconfigs.security.ugallu.io",
                     "crd/securityevents.security.ugallu.io")
        self.kubectl("create", "namespace", "ops")
        self.apply(os.path.join(DEPLOY, "rbac"))


def cluster_fixture(tmp_path_factory):
    """Generator behind conftest's session fixture `k8s_cluster`."""
    for prog in ("etcd", "openssl"):
        if subprocess.run(["sh", "-c", "command -v " + prog],
                          stdout=subprocess.DEVNULL).returncode != 0:
            pytest.skip("not installed: " + prog)
    cp = ControlPlane(str(tmp_path_factory.mktemp("k8s")))
    cp.build()
    cp.start()
    try:
        yield cp
    finally:
        cp.stop()
