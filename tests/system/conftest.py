"""Fixtures shared by the system tests.

Run with Debian's interpreter so dnspython and PyYAML are visible:

    UGALLU_BIN=build/src/ugallu-dns-detect /usr/bin/python3 -m pytest \
        tests/system

The tests need root (servers bind ports, tcpdump captures lo) and the
Debian packages named in README.md beside this file.  A missing program
skips the tests that need it, with the program's name as the reason; a
program that is present but misbehaves fails them.
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import servers  # noqa: E402


def require(*programs):
    """Skip the calling test unless every program is installed."""
    missing = [p for p in programs if servers.which(p) is None]
    if missing:
        pytest.skip("not installed: " + ", ".join(missing))


def require_root():
    if os.geteuid() != 0:
        pytest.skip("needs root (servers on loopback, tcpdump on lo)")


@pytest.fixture
def daemon_bin():
    """Path of the daemon under test; skips when it is not built."""
    path = servers.daemon_binary()
    if not os.access(path, os.X_OK):
        pytest.skip("daemon not built: %s (set UGALLU_BIN)" % path)
    return path


@pytest.fixture
def workdir(tmp_path):
    """A short per-test directory (unix socket paths must stay under
    108 bytes)."""
    return str(tmp_path)


@pytest.fixture
def procs():
    """Register started processes here; every one still running is
    stopped by PID when the test ends, pass or fail."""
    started = []
    yield started
    for p in reversed(started):
        try:
            p.stop()
        except Exception:
            pass


@pytest.fixture
def auth(workdir, procs):
    """The fake root and test zones, served by BIND named."""
    require_root()
    require("named")
    a = servers.AuthServer(workdir)
    procs.append(a)
    return a.start()


@pytest.fixture(scope="session")
def k8s_cluster(tmp_path_factory):
    """A real kube-apiserver and etcd on loopback, for the whole session
    (tests/system/k8s.py; the first run builds them)."""
    import k8s
    yield from k8s.cluster_fixture(tmp_path_factory)
