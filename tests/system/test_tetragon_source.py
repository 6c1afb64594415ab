"""The tetragon source against a stand-in for Tetragon's gRPC API.

Tetragon itself needs kernel privileges a test machine lacks, so
tests/tetragon/peer, built from Tetragon's public Go API module
(github.com/cilium/tetragon/api), serves tetragon.FineGuidanceSensors/
GetEvents on a unix socket, streaming the GetEventsResponse messages of
tests/tetragon/events.jsonl (Tetragon's JSON form of process_kprobe
events on udp_sendmsg and tcp_sendmsg, with sock, bytes and size
arguments, and one process_exec the source must skip).  The C client runs
inside tests/tetragon/tetragonsrc_cli, which prints every event as a JSON
line and its counters on stderr.

Covered: queries decoded from the payload (qname, qtype, addresses,
ports, pod namespace), DoT as a flow, the payload-less shape of the
shipped policy as a flow, the exec event skipped; the peer stopped and
started again is re-dialled and streams again; the shipped TracingPolicy
hooks what the decoder reads.
"""

import json
import os
import subprocess
import time

import pytest
import yaml

import servers

PEER_DIR = os.path.join(servers.ROOT, "tests", "tetragon", "peer")
FIXTURE = os.path.join(servers.ROOT, "tests", "tetragon", "events.jsonl")
POLICY = os.path.join(servers.ROOT, "deploy", "tetragon",
                      "tracingpolicy.yaml")
EVENTS = 4          # kprobe events in the fixture; plus one exec


def go_binary():
    """The go command: on PATH, else where the Go tarball puts it."""
    path = servers.which("go") or "/usr/local/go/bin/go"
    if not os.access(path, os.X_OK):
        pytest.skip("not installed: go")
    return path


@pytest.fixture(scope="module")
def peer_bin(tmp_path_factory):
    """The peer, built once per run (skips without Go or its modules)."""
    out = str(tmp_path_factory.mktemp("tetragon") / "peer")
    r = subprocess.run([go_binary(), "build", "-o", out, "."],
                       cwd=PEER_DIR, capture_output=True, text=True,
                       timeout=900)
    if r.returncode != 0 and "proxy" in r.stderr:
        pytest.skip("Tetragon's Go API module unreachable: " + r.stderr[-300:])
    assert r.returncode == 0, r.stderr[-2000:]
    return out


@pytest.fixture
def cli_bin(daemon_bin):
    """tests/tetragon/tetragonsrc_cli of the daemon's build."""
    path = os.environ.get("UGALLU_TETRAGON_CLI") or os.path.join(
        os.path.dirname(os.path.abspath(daemon_bin)), "tests",
        "tetragonsrc_cli")
    if not os.access(path, os.X_OK):
        pytest.skip("tetragonsrc_cli not built: " + path)
    return path


def start_peer(peer_bin, workdir, procs, sock, name="peer"):
    p = servers.Process(name, [peer_bin, "-socket", sock, "-fixture",
                               FIXTURE], workdir)
    procs.append(p.start())
    deadline = time.time() + 20
    while "READY" not in p.out_text():
        p.check_alive()
        assert time.time() < deadline, "peer not ready: " + p.log_tail()
        time.sleep(0.05)
    return p


def lines_of(proc):
    return [json.loads(line) for line in proc.out_text().splitlines()
            if line.startswith("{")]


def wait_lines(proc, n, timeout=20):
    deadline = time.time() + timeout
    while len(lines_of(proc)) < n:
        assert time.time() < deadline, "got %d of %d events:\n%s" % (
            len(lines_of(proc)), n, proc.log_tail())
        time.sleep(0.05)
    return lines_of(proc)


def stats_of(proc):
    for line in proc.log_text().splitlines():
        if line.startswith('{"stats"'):
            return json.loads(line)["stats"]
    raise AssertionError("no stats line:\n" + proc.log_tail())


def check_fixture_events(evs):
    """The four kprobe events of events.jsonl, in order."""
    q1, q2, dot, flow = evs
    for ev in evs:
        assert ev["source"] == "tetragon"
        assert ev["role"] == "client"
        assert ev["latency_ms"] is None
    assert q1["kind"] == "dns" and q1["transport"] == "udp"
    assert (q1["qname"], q1["qtype"], q1["qtype_n"]) == \
        ("example.com", "A", 1)
    assert (q1["client"], q1["client_port"]) == ("10.244.1.5", 40000)
    assert (q1["server"], q1["server_port"]) == ("10.96.0.10", 53)
    assert q1["pod_namespace"] == "shop"
    assert q1["has_query"] and not q1["has_response"]
    assert q1["id"] == 0x1234
    assert q1["time"] == "2026-12-03T10:00:01.000000100Z"

    assert (q2["qname"], q2["qtype_n"]) == ("api.stripe.com", 28)
    assert (q2["client"], q2["client_port"]) == ("10.244.2.7", 51000)
    assert q2["pod_namespace"] == "payments"

    assert dot["kind"] == "flow" and dot["transport"] == "dot"
    assert (dot["server"], dot["server_port"]) == ("1.1.1.1", 853)
    assert (dot["client"], dot["client_port"]) == ("10.244.1.5", 45678)
    assert dot["pod_namespace"] == "shop"
    assert "qname" not in dot

    assert flow["kind"] == "flow" and flow["transport"] == "udp"
    assert (flow["server"], flow["server_port"]) == ("10.96.0.10", 53)
    assert flow["pod_namespace"] == "batch"


def test_events_from_peer(peer_bin, cli_bin, workdir, procs):
    sock = os.path.join(workdir, "tetragon.sock")
    start_peer(peer_bin, workdir, procs, sock)
    cli = servers.Process("cli", [cli_bin, "--target", "unix:" + sock,
                                  "--count", str(EVENTS), "--seconds", "30"],
                          workdir)
    procs.append(cli.start())
    assert cli.proc.wait(40) == 0, cli.log_tail()

    check_fixture_events(lines_of(cli))
    st = stats_of(cli)
    assert st["events"] == EVENTS
    assert st["skipped"] == 1          # the process_exec
    assert st["malformed"] == 0
    assert st["connects"] == 1


def test_peer_restart_reconnects(peer_bin, cli_bin, workdir, procs):
    sock = os.path.join(workdir, "tetragon.sock")
    peer = start_peer(peer_bin, workdir, procs, sock)
    cli = servers.Process("cli", [cli_bin, "--target", "unix:" + sock,
                                  "--count", str(2 * EVENTS),
                                  "--seconds", "60"], workdir)
    procs.append(cli.start())
    wait_lines(cli, EVENTS)

    peer.stop()
    time.sleep(1.0)                    # the client sees the peer gone
    assert len(lines_of(cli)) == EVENTS
    start_peer(peer_bin, workdir, procs, sock, name="peer2")
    evs = wait_lines(cli, 2 * EVENTS, timeout=45)
    assert cli.proc.wait(20) == 0, cli.log_tail()

    check_fixture_events(evs[EVENTS:])
    st = stats_of(cli)
    assert st["connects"] == 2
    assert st["reconnects"] >= 1
    assert "tetragon stream down" in cli.log_text()


def test_policy_hooks_what_the_decoder_reads():
    with open(POLICY) as f:
        policy = yaml.safe_load(f)
    assert policy["apiVersion"] == "cilium.io/v1alpha1"
    assert policy["kind"] == "TracingPolicy"
    probes = {k["call"]: k for k in policy["spec"]["kprobes"]}
    assert set(probes) == {"udp_sendmsg", "tcp_sendmsg"}
    ports = {}
    for call, k in probes.items():
        assert {"index": 0, "type": "sock"} in k["args"]
        match = k["selectors"][0]["matchArgs"][0]
        assert match["index"] == 0 and match["operator"] == "DPort"
        ports[call] = set(match["values"])
    assert ports["udp_sendmsg"] == {"53"}
    assert "853" in ports["tcp_sendmsg"]
