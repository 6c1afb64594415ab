"""Malformed dnstap input, interleaved with valid messages, over the
daemon's live socket.

Each bad input is built by hand (dnstap_wire) and sent between valid
query/response pairs with unique names.  Afterwards:
- every valid pair is in the daemon's events exactly once, with the
  addresses, ports, transport, ID, qname, qtype and rcode that were sent,
  and no bad message left an event behind;
- ugallu_dns_malformed_total counts every bad input under its kind;
- the daemon is alive and healthy throughout and exits 0 on SIGTERM.

The encoder is checked against the Go dnstap decoder first
(test_encoder_matches_go_dnstap), so the valid frames really are valid.
"""

import os
import struct
import time

import dnstap_wire as W
import refdecode as R
import servers as S
from conftest import require

# (kind labels any of which is right, builder of the bad DNS message).
# The message goes inside a well-formed CLIENT_QUERY frame.
BAD_DNS = [
    ({"dns_short_header"}, W.bad_short_header),
    ({"dns_short_header"}, lambda: b""),           # zero-length message
    ({"dns_compression_loop"}, W.bad_compression_loop),
    ({"dns_compression_loop"}, W.bad_forward_pointer),
    ({"dns_label_too_long", "dns_bad_label_type"}, W.bad_label_overflow),
    ({"dns_name_too_long"}, W.bad_name_overflow),
    ({"dns_bad_counts", "dns_truncated"}, W.bad_counts),
    ({"dns_truncated"}, W.bad_truncated_question),
]


def _msg(fields):
    return W.field_bytes(14, fields) + W.field_varint(15, 1)


# Whole frames that are not valid dnstap.
BAD_FRAMES = [
    ({"dnstap_protobuf"}, b"\xff" * 24),                   # garbage
    ({"dnstap_protobuf"}, b"\x0a\x80\x80\x80"),            # cut varint
    ({"dnstap_protobuf"}, b"\x72\x40" + b"\x08\x05"),      # len past end
    ({"dnstap_no_message"}, W.field_varint(15, 1)),
    ({"dnstap_bad_type"}, W.field_bytes(14, W.field_varint(1, 5)) +
     W.field_varint(15, 2)),                               # not MESSAGE
    ({"dnstap_bad_type"}, _msg(W.field_varint(1, 99))),    # no such type
    ({"dnstap_bad_field"}, _msg(W.field_varint(1, 5) +
                                W.field_varint(6, 70000))),  # port
]


class Valid:
    """Numbered valid query/response pairs, remembered for checking."""

    def __init__(self):
        self.sent = []

    def pair(self, transport="udp", v6=False):
        """Frames of one CLIENT_QUERY and its CLIENT_RESPONSE."""
        i = len(self.sent)
        client = "::1" if v6 else "127.0.0.1"
        server = "::1" if v6 else "127.0.0.53"
        name = "valid-%d.example.com" % i
        rcode = 3 if i % 4 == 3 else 0
        now = time.time()
        q = W.dnstap_message("CLIENT_QUERY", client, 20000 + i, server, 53,
                             W.dns_query(i, name), transport, now)
        r = W.dnstap_message("CLIENT_RESPONSE", client, 20000 + i, server,
                             53, W.dns_response(i, name, rcode=rcode),
                             transport, now + 0.001)
        self.sent.append(R.Msg("client", "response", transport, client,
                               20000 + i, server, 53, i, name, "A",
                               "NXDOMAIN" if rcode else "NOERROR"))
        return [q, r]

    def query_keys(self):
        return R.query_keys([m._replace(side="query", rcode=None)
                             for m in self.sent])

    def response_keys(self):
        return R.response_keys(self.sent)


def bad_dns_frame(build, i):
    return W.dnstap_message("CLIENT_QUERY", "127.0.0.1", 30000 + i,
                            "127.0.0.53", 53, build(), "udp")


def test_encoder_matches_go_dnstap(workdir):
    """The hand-made frames decode, field for field, with the Go CLI."""
    require("dnstap")
    valid = Valid()
    frames = []
    for i in range(6):
        frames += valid.pair(transport=["udp", "tcp", "dot"][i % 3],
                             v6=bool(i % 2))
    path = os.path.join(workdir, "hand.dnstap")
    W.write_file(path, frames)
    got = R.go_dnstap_messages(path)
    assert R.query_keys(got) == valid.query_keys()
    assert R.response_keys(got) == valid.response_keys()


def start(workdir, procs):
    sock = os.path.join(workdir, "daemon.sock")
    daemon = S.Daemon(workdir, ("unix", sock))
    procs.append(daemon)
    daemon.start()
    return daemon, sock


def test_malformed_frames_counted_and_survived(daemon_bin, workdir, procs):
    daemon, sock = start(workdir, procs)
    valid = Valid()
    expect = []  # one set of acceptable kinds per bad input

    # 1. One clean stream: valid pairs around every bad DNS message and
    #    every bad dnstap frame, then an oversized frame (skipped, the
    #    stream goes on).
    s = W.Sender(sock).handshake()
    for i, (kinds, build) in enumerate(BAD_DNS):
        send_all(s, valid.pair(v6=bool(i % 2)))
        s.send(bad_dns_frame(build, i))
        expect.append(kinds)
    for kinds, frame in BAD_FRAMES:
        send_all(s, valid.pair(transport="tcp"))
        s.send(frame)
        expect.append(kinds)
    s.send(b"\x00" * (300 * 1024))
    expect.append({"fstrm_frame_too_big"})
    send_all(s, valid.pair())
    assert s.finish(), "no FINISH after a stream with bad frames"
    assert daemon.alive()

    # 2. Streams broken at the Frame Streams level, each on its own
    #    connection; the daemon drops the connection, not itself.
    expect += broken_streams(sock, valid)
    time.sleep(0.5)
    assert daemon.alive() and daemon.health() == 200

    # 3. A clean stream afterwards still works.
    s = W.Sender(sock).handshake()
    for _ in range(5):
        send_all(s, valid.pair(v6=True))
    assert s.finish()

    check_counts(daemon, valid, expect)
    rc, summary = daemon.terminate()
    assert rc == 0, daemon.log_tail()
    assert summary["malformed"] == len(expect)
    check_events(daemon, valid)


def send_all(sender, frames):
    for f in frames:
        sender.send(f)


def broken_streams(sock, valid):
    """Open connections that break the protocol; return the kinds each
    should be counted under."""
    expect = []

    # A sender gone in the middle of a frame, after a valid pair.
    s = W.Sender(sock).handshake()
    send_all(s, valid.pair())
    s.send_raw(struct.pack(">I", 1000) + b"\x0a\x05" + b"x" * 10)
    time.sleep(0.2)
    s.close()
    expect.append({"fstrm_truncated"})

    # A control frame of length 0 (an escape with nothing behind it).
    s = W.Sender(sock).handshake()
    s.send_raw(struct.pack(">II", 0, 0))
    close_soon(s)
    expect.append({"fstrm_bad_control"})

    # Data before any START.
    s = W.Sender(sock)
    s.send(valid_looking_frame())
    close_soon(s)
    expect.append({"fstrm_unexpected_data", "fstrm_bad_control"})

    # A sender that speaks another content type.
    s = W.Sender(sock)
    s.send_raw(W.control(W.FSTRM_READY, b"protobuf:other.Thing"))
    close_soon(s)
    expect.append({"fstrm_bad_content_type"})

    # Garbage instead of a handshake.
    s = W.Sender(sock)
    s.send_raw(b"\x00\x00\x00\x00\xff\xff\xff\xff" + b"junk" * 8)
    close_soon(s)
    expect.append({"fstrm_bad_control"})
    return expect


def valid_looking_frame():
    return W.dnstap_message("CLIENT_QUERY", "127.0.0.1", 1, "127.0.0.53",
                            53, W.dns_query(1, "early.example.com"))


def close_soon(sender):
    time.sleep(0.2)
    sender.close()


def check_counts(daemon, valid, expect):
    """The message counters see every valid frame; the malformed counter
    has every bad input under one of its acceptable kinds."""
    n = len(valid.sent)
    S.wait_for(lambda: pair_counts(daemon) >= (n, n), 10,
               "valid frames to be counted", interval=0.2)
    by_kind = {dict(k)["kind"]: v for k, v in S.metric_family(
        daemon.metrics(), "ugallu_dns_malformed_total").items()}
    # Each bad input is counted once, under one of its kinds.
    for labels, items in group_kinds(expect):
        got = sum(by_kind.get(k, 0) for k in labels)
        assert got == items, (sorted(labels), items, by_kind)
    assert sum(by_kind.values()) == len(expect), by_kind


def group_kinds(expect):
    """Merge overlapping sets of acceptable kinds: [(labels, number of
    inputs that must be counted under those labels)]."""
    groups = []
    for kinds in expect:
        merged, count = set(kinds), 1
        for g in [g for g in groups if g[0] & kinds]:
            groups.remove(g)
            merged |= g[0]
            count += g[1]
        groups.append((merged, count))
    return groups


def pair_counts(daemon):
    m = daemon.metrics()
    return (S.metric(m, "ugallu_dns_messages_total", source="dnstap",
                     side="query"),
            S.metric(m, "ugallu_dns_messages_total", source="dnstap",
                     side="response"))


def check_events(daemon, valid):
    """Exactly the valid pairs, matched, with their fields intact."""
    events = daemon.events()
    names = {m.qname for m in valid.sent}
    mine = [e for e in events if e.get("qname") in names]
    stray = [e for e in events if e.get("qname") not in names]
    assert not stray, "events from bad input: %r" % stray[:3]
    assert not R.diff(valid.query_keys(), R.event_query_keys(mine))
    assert not R.diff(valid.response_keys(), R.event_response_keys(mine))
    assert all(e["has_query"] and e["has_response"] for e in mine)
    assert all(e["latency_ms"] is not None and
               0.5 <= e["latency_ms"] <= 2.0 for e in mine)
