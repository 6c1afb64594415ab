"""dnstap from real servers: Unbound, BIND named and dnsdist.

Two kinds of test per server.

Capture tests: the server's dnstap goes to fstrm_capture, which writes a
file.  That one stream is then decoded by two reference decoders (the Go
`dnstap` CLI and BIND's `dnstap-read`, which must agree with each other)
and given to the daemon twice: as a file (--replay, --events-out) and
over its live socket (the Go CLI replays the file into it).  Every
message's decoded fields must match the reference, and the per-side
counts must match exactly.  Because all three read the same bytes, a
difference can only come from decoding.

Live tests: the server's dnstap goes straight into the daemon.  The
servers are configured to log client messages only, so the number of
query messages the server sent equals the number of queries it received,
which it counts itself (unbound-control stats, BIND's statistics channel,
dnsdist's API).  The daemon's ugallu_dns_messages_total must equal that
counter, for queries and for responses.  Counters are compared as
differences between a point after the dnstap connection has settled and
a point after the traffic, so the readiness probe sent at start-up (which
a dnstap sender may drop while it connects) cannot skew them.
"""

import os
import time

import pytest

import refdecode as R
import servers as S
import traffic
from conftest import require

SERVER_PROGRAMS = {
    "unbound": ("unbound", "unbound-control"),
    "bind": ("named",),
    "dnsdist": ("dnsdist", "openssl"),
}


def make_server(kind, workdir, auth, dnstap, log):
    """A server of the given kind sending dnstap to dnstap."""
    if kind == "unbound":
        return S.Unbound(workdir, auth, dnstap=dnstap, log=log)
    if kind == "bind":
        return S.BindResolver(workdir, auth, dnstap=dnstap, log=log)
    return S.Dnsdist(workdir, (auth.addr, auth.port), dnstap=dnstap,
                     tls=True)


def send_traffic(kind, server, workdir):
    """The query mix; dnsdist also gets DoT and DoH.  Returns the number
    of queries sent."""
    sent = traffic.send_mix(server.addr, server.port, workdir)
    if kind == "dnsdist":
        sent += S.dnsperf("127.0.0.1", server.dot_port,
                          traffic.mix(60, 3), workdir, mode="dot",
                          name="perf-dot")["sent"]
        sent += S.dnsperf("127.0.0.1", server.doh_port,
                          traffic.mix(60, 4), workdir, mode="doh",
                          name="perf-doh",
                          extra=["-O", "doh-uri=https://127.0.0.1:%d"
                                 "/dns-query" % server.doh_port,
                                 # dnsperf 2.10 loses most DoH queries to
                                 # dnsdist 1.7 with more than one in
                                 # flight; one at a time loses none.
                                 "-q", "1"])["sent"]
    return sent


def capture(kind, workdir, auth, procs):
    """Record one server's dnstap (client and resolver messages) with
    fstrm_capture while the query mix runs.  Returns the file path."""
    sock = os.path.join(workdir, "cap.sock")
    path = os.path.join(workdir, kind + ".dnstap")
    cap = S.FstrmCapture(workdir, path, socket_path=sock)
    procs.append(cap)
    cap.start()
    server = make_server(kind, workdir, auth, sock, ("client", "resolver"))
    procs.append(server)
    server.start()
    S.wait_for(cap.connected, S.START_TIMEOUT, kind + " dnstap connect")
    time.sleep(S.DNSTAP_SETTLE)

    send_traffic(kind, server, workdir)
    time.sleep(S.DNSTAP_SETTLE)

    server.stop()
    return cap.finish()


@pytest.mark.parametrize("kind", ["unbound", "bind", "dnsdist"])
def test_capture_decodes_like_reference(kind, daemon_bin, workdir, auth,
                                        procs):
    require(*SERVER_PROGRAMS[kind], "fstrm_capture", "dnstap",
            "dnstap-read", "dnsperf", "dig")
    path = capture(kind, workdir, auth, procs)

    go = R.go_dnstap_messages(path)
    ref_sides = R.count_sides(go)
    assert ref_sides["query"] >= 600 and ref_sides["response"] >= 600, \
        "the capture is too small to mean anything: %r" % ref_sides
    check_references_agree(go, R.bind_dnstap_messages(path))
    if kind == "dnsdist":
        transports = {m.transport for m in go}
        assert {"udp", "tcp", "dot", "doh"} <= transports, transports

    check_replay_file(path, workdir, go)
    check_replay_socket(path, workdir, go, procs)


def check_references_agree(go, bind):
    """The two reference decoders must agree, or the test is moot.
    BIND 9.18's dnstap-read predates the DOT and DOH protocol values and
    prints them as UDP, so the Go decoder's DoT/DoH are compared as UDP
    here (the daemon is compared with the Go decoder, which knows them).
    """
    assert len(go) == len(bind)
    go = [m._replace(transport="udp") if m.transport in ("dot", "doh")
          else m for m in go]
    assert not R.diff(R.query_keys(go), R.query_keys(bind))
    assert not R.diff(R.response_keys(go), R.response_keys(bind))


def check_replay_file(path, workdir, go):
    """--replay: summary counts and every message's fields."""
    events_path = os.path.join(workdir, "replay-events.jsonl")
    proc, summary, _ = S.replay(path, events_out=events_path,
                                workdir=workdir)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert summary is not None, "no summary line:\n" + proc.stderr[-2000:]

    sides = R.count_sides(go)
    assert summary["messages"] == len(go)
    assert summary["queries"] == sides["query"]
    assert summary["responses"] == sides["response"]
    assert summary["malformed"] == 0

    events = S.read_jsonl(events_path)
    assert summary["events"] == len(events)
    check_events_match(go, events)


def check_events_match(go, events):
    """Every query and response message of the reference is in the
    events with the same role, transport, addresses, ports, ID, qname
    and qtype (and rcode), and nothing else is."""
    problem = R.diff(R.query_keys(go), R.event_query_keys(events))
    assert not problem, "query messages differ:\n" + problem
    problem = R.diff(R.response_keys(go), R.event_response_keys(events))
    assert not problem, "response messages differ:\n" + problem
    for e in events:
        assert e["source"] == "dnstap"
        assert not (e["unanswered"] and e["has_response"]), e


def check_replay_socket(path, workdir, go, procs):
    """The same file sent into the daemon's socket by the Go CLI: the
    message counters must equal the reference's."""
    sock = os.path.join(workdir, "daemon.sock")
    daemon = S.Daemon(workdir, ("unix", sock), name="replay-daemon")
    procs.append(daemon)
    daemon.start()

    res = S.dnstap_replay(path, socket_path=sock)
    assert res.returncode == 0, res.stderr
    sides = R.count_sides(go)
    wait_counts(daemon, sides["query"], sides["response"])

    assert daemon.health() == 200
    rc, summary = daemon.terminate()
    assert rc == 0, daemon.log_tail()
    assert summary["queries"] == sides["query"]
    assert summary["responses"] == sides["response"]
    check_events_match(go, daemon.events())


def message_counts(daemon):
    m = daemon.metrics()
    return (S.metric(m, "ugallu_dns_messages_total", source="dnstap",
                     side="query"),
            S.metric(m, "ugallu_dns_messages_total", source="dnstap",
                     side="response"))


def wait_counts(daemon, queries, responses, timeout=20.0):
    """Wait until the daemon's message counters reach the expected
    values (they must then stay there), and assert they match."""
    try:
        S.wait_for(lambda: message_counts(daemon) >= (queries, responses),
                   timeout, "daemon message counters", interval=0.2)
    except TimeoutError:
        pass
    time.sleep(0.5)
    assert message_counts(daemon) == (queries, responses)


# ------------------------------------------------------------ live tests

LIVE = [("unbound", "unix"), ("unbound", "tcp"), ("bind", "unix"),
        ("dnsdist", "unix"), ("dnsdist", "tcp")]


@pytest.mark.parametrize("kind,transport", LIVE)
def test_live_counts_match_server(kind, transport, daemon_bin, workdir,
                                  auth, procs):
    require(*SERVER_PROGRAMS[kind], "dnsperf", "dig")
    daemon, tap = start_daemon(workdir, transport, procs)
    server = make_server(kind, workdir, auth, tap, ("client",))
    procs.append(server)
    server.start()
    daemon.wait_connected()

    srv0, dq0, dr0 = server.answered(), *message_counts(daemon)
    sent = send_traffic(kind, server, workdir)
    time.sleep(S.DNSTAP_SETTLE)
    srv1 = server.answered()

    received, answered = live_deltas(kind, srv0, srv1)
    assert received == sent, "the server saw other queries than ours"
    wait_counts(daemon, dq0 + received, dr0 + answered)

    server.stop()
    time.sleep(1.0)
    assert daemon.alive() and daemon.health("/readyz") == 200
    rc, summary = daemon.terminate()
    assert rc == 0, daemon.log_tail()
    assert summary["queries"] >= dq0 + received
    assert summary["malformed"] == 0
    if kind == "unbound":
        check_rcodes(daemon, srv0[1], srv1[1])


def start_daemon(workdir, transport, procs):
    """The daemon on a unix socket or a TCP port; returns it and what a
    server's dnstap setting should be."""
    if transport == "unix":
        sock = os.path.join(workdir, "daemon.sock")
        daemon = S.Daemon(workdir, ("unix", sock))
        tap = sock
    else:
        port = S.free_port()
        daemon = S.Daemon(workdir, ("tcp", "127.0.0.1", port))
        tap = ("tcp", "127.0.0.1", port)
    procs.append(daemon)
    daemon.start()
    return daemon, tap


def live_deltas(kind, before, after):
    """(queries received, responses sent) during the traffic, from the
    server's own counters."""
    if kind == "unbound":
        return (after[0] - before[0],
                sum(after[1].values()) - sum(before[1].values()))
    return after[0] - before[0], after[1] - before[1]


def check_rcodes(daemon, before, after):
    """Unbound counts its answers by rcode: the daemon's client events
    must have the same number of each rcode during the traffic.  Read
    after the daemon has exited: --events-out is buffered."""
    got = {}
    for e in S.read_jsonl(daemon.events_path):
        if e.get("role") == "client" and e.get("has_response"):
            got[e["rcode"]] = got.get(e["rcode"], 0) + 1
    # Events are written as transactions complete; the probe's (if it
    # arrived) is in "got" but not in the delta, hence the tolerance of
    # the one NOERROR answer sent before the baseline.
    for rcode in ("NXDOMAIN", "SERVFAIL", "REFUSED"):
        assert got.get(rcode, 0) == after[rcode] - before[rcode], rcode
    delta = after["NOERROR"] - before["NOERROR"]
    assert delta <= got.get("NOERROR", 0) <= delta + 1
