"""pcap: DNS on the wire, decoded by the daemon and by tshark.

An Unbound resolver listens on port 53 of a free 127/8 address and of
::1, and on port 5353 of the same IPv4 address (DNS on a non-standard
port, which the daemon must still recognise over UDP).  tcpdump records
lo while dig and dnsperf query it over UDP and TCP, IPv4 and IPv6.  The
resolver's own traffic to the fake root goes to another port and is not
recorded.

The file is then decoded by tshark and replayed by the daemon
(--replay, --events-out): every DNS message tshark sees must be in the
daemon's events with the same addresses, ports, transport, ID, qname,
qtype and rcode, and the summary must count the same messages.  The same
capture converted to pcapng must give the same events.  A live test runs
the daemon on lo (--interface) beside tcpdump and compares the two.
"""

import os
import random
import subprocess
import time

import refdecode as R
import servers as S
import traffic
from conftest import require

ALT_PORT = 5353


def pick_v4_address():
    """A 127/8 address whose port 53 and ALT_PORT are free."""
    rng = random.Random()
    for _ in range(50):
        addr = "127.%d.%d.%d" % (rng.randint(1, 254), rng.randint(0, 255),
                                 rng.randint(2, 254))
        if S.port_free(addr, 53) and S.port_free(addr, ALT_PORT):
            return addr
    raise RuntimeError("no 127/8 address with port 53 free")


def wait_v6_port53():
    """::1 has no siblings: wait (bounded) for another test's server to
    release port 53 there."""
    S.wait_for(lambda: S.port_free("::1", 53), 60,
               "port 53 on ::1 to be free", interval=0.5)


def qtype_names():
    import dns.rdatatype
    return {t: dns.rdatatype.to_text(t) for t in range(0, 65536)
            if not dns.rdatatype.to_text(t).startswith("TYPE")}


def start_resolver(workdir, auth, procs):
    addr = pick_v4_address()
    wait_v6_port53()
    ub = S.Unbound(workdir, auth, addrs=(addr, "::1"), port=53,
                   extra_ports=(ALT_PORT,))
    procs.append(ub)
    return ub.start()


def send_wire_traffic(ub, workdir):
    """UDP and TCP, IPv4 and IPv6, port 53 and a few UDP on ALT_PORT.
    Returns the number of queries sent."""
    sent = traffic.send_mix(ub.addr, 53, workdir, udp=300, tcp=80,
                            host6="::1")
    sent += S.dnsperf("::1", 53, traffic.mix(60, 7), workdir,
                      name="perf-v6")["sent"]
    sent += S.dnsperf("::1", 53, traffic.mix(40, 8), workdir, mode="tcp",
                      name="perf-v6-tcp")["sent"]
    for name, qtype in traffic.KNOWN[:6]:
        S.dig(ub.addr, ALT_PORT, name, qtype)
        sent += 1
    return sent


def record(workdir, auth, procs):
    """The capture file and the number of queries sent into it."""
    ub = start_resolver(workdir, auth, procs)
    path = os.path.join(workdir, "wire.pcap")
    td = S.Tcpdump(workdir, path, "port 53 or port %d" % ALT_PORT)
    procs.append(td)
    td.start()
    sent = send_wire_traffic(ub, workdir)
    td.finish()
    assert td.kernel_dropped == 0, "tcpdump lost packets: no reference"
    ub.stop()
    return path, sent


def check_replay(path, workdir, ref, name):
    events_path = os.path.join(workdir, name + "-events.jsonl")
    proc, summary, _ = S.replay(path, events_out=events_path,
                                workdir=workdir)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert summary is not None, proc.stderr[-2000:]
    sides = R.count_sides(ref)
    assert summary["messages"] == len(ref)
    assert summary["queries"] == sides["query"]
    assert summary["responses"] == sides["response"]
    assert summary["malformed"] == 0

    events = S.read_jsonl(events_path)
    problem = R.diff(R.query_keys(ref), R.event_query_keys(events))
    assert not problem, "queries differ from tshark:\n" + problem
    problem = R.diff(R.response_keys(ref), R.event_response_keys(events))
    assert not problem, "responses differ from tshark:\n" + problem
    for e in events:
        assert e["source"] == "pcap" and e["role"] == "wire"
    return events


def test_pcap_replay_matches_tshark(daemon_bin, workdir, auth, procs):
    require("unbound", "tcpdump", "tshark", "dnsperf", "dig")
    path, sent = record(workdir, auth, procs)

    ref = R.tshark_messages(path, dns_ports=(53, ALT_PORT),
                            qtype_names=qtype_names())
    sides = R.count_sides(ref)
    assert sides["query"] == sent, "tcpdump missed queries"
    assert sides["response"] == sent, "queries went unanswered"
    assert {m.transport for m in ref} == {"udp", "tcp"}
    assert {":" in m.client for m in ref} == {True, False}
    assert ALT_PORT in {m.server_port for m in ref}

    events = check_replay(path, workdir, ref, "pcap")
    matched = [e for e in events if e["has_query"] and e["has_response"]]
    assert len(matched) == sent, "every query should meet its response"
    assert all(e["latency_ms"] is not None and e["latency_ms"] >= 0
               for e in matched)

    if S.which("editcap"):
        ng = path + "ng"
        subprocess.run([S.which("editcap"), "-F", "pcapng", path, ng],
                         check=True)
        check_replay(ng, workdir, ref, "pcapng")


def test_pcap_live_interface(daemon_bin, workdir, auth, procs):
    """The daemon capturing lo live counts what tcpdump records."""
    require("unbound", "tcpdump", "tshark", "dnsperf", "dig")
    ub = start_resolver(workdir, auth, procs)
    bpf = "host %s and port 53" % ub.addr
    path = os.path.join(workdir, "live.pcap")
    td = S.Tcpdump(workdir, path, bpf)
    procs.append(td)
    td.start()
    daemon = S.Daemon(workdir, ("iface", "lo"),
                      config=S.write_config(workdir, mode="pcap"))
    procs.append(daemon)
    daemon.start()
    time.sleep(1.0)

    sent = traffic.send_mix(ub.addr, 53, workdir, udp=300, tcp=60,
                            host6=None)
    time.sleep(1.0)
    td.finish()
    assert td.kernel_dropped == 0, "tcpdump lost packets: no reference"
    ref = R.tshark_messages(path, qtype_names=qtype_names())
    sides = R.count_sides(ref)
    assert sides["query"] == sent

    def counts():
        m = daemon.metrics()
        return (S.metric(m, "ugallu_dns_messages_total", source="pcap",
                         side="query"),
                S.metric(m, "ugallu_dns_messages_total", source="pcap",
                         side="response"))
    try:
        S.wait_for(lambda: counts() >= (sides["query"], sides["response"]),
                   10, "live pcap counters", interval=0.2)
    except TimeoutError:
        pass
    # Other tests may query other addresses on lo at the same time; the
    # daemon sees those too, so it may count more, never fewer.
    q, r = counts()
    assert q >= sides["query"] and r >= sides["response"]
    rc, summary = daemon.terminate()
    assert rc == 0, daemon.log_tail()
    mine = [e for e in daemon.events() if ub.addr in (e["client"],
                                                      e["server"])]
    problem = R.diff(R.query_keys(ref), R.event_query_keys(mine))
    assert not problem, "live queries differ from tshark:\n" + problem
    problem = R.diff(R.response_keys(ref), R.event_response_keys(mine))
    assert not problem, "live responses differ from tshark:\n" + problem
