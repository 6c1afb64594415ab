#!/usr/bin/python3
"""Write the seed corpora of fuzz/fuzz_dnstap.c and fuzz/fuzz_framestream.c.

Dnstap messages are encoded here by hand (protobuf wire format, field
numbers from dnstap.proto) so no protobuf module is needed.  Run from the
repository root:  scripts/gen_dnstap_corpus.py
It replaces every file in fuzz/corpus/dnstap and fuzz/corpus/framestream.
"""
import os
import struct

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DNSTAP_DIR = os.path.join(ROOT, "fuzz", "corpus", "dnstap")
FSTRM_DIR = os.path.join(ROOT, "fuzz", "corpus", "framestream")
CONTENT_TYPE = b"protobuf:dnstap.Dnstap"

# ---- protobuf wire format ----


def varint(v):
    out = bytearray()
    while True:
        byte = v & 0x7F
        v >>= 7
        if v:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def key(field, wire):
    return varint(field << 3 | wire)


def pb_uint(field, v):
    return key(field, 0) + varint(v)


def pb_bytes(field, data):
    return key(field, 2) + varint(len(data)) + data


def pb_fixed32(field, v):
    return key(field, 5) + struct.pack("<I", v)


# ---- DNS messages ----


def dns_name(name):
    out = b""
    for label in name.split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def dns_query(name, qtype=1, qid=0x1234):
    header = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    return header + dns_name(name) + struct.pack(">HH", qtype, 1)


def dns_response(name, qtype=1, qid=0x1234, rcode=0):
    header = struct.pack(">HHHHHH", qid, 0x8180 | rcode, 1, 1, 0, 1)
    question = dns_name(name) + struct.pack(">HH", qtype, 1)
    answer = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 300, 4)
    answer += bytes([192, 0, 2, 1])
    opt = b"\0" + struct.pack(">HHIH", 41, 1232, 0, 0)
    return header + question + answer + opt


# ---- dnstap messages ----


def message(mtype, proto=1, qaddr=bytes([192, 0, 2, 10]),
            raddr=bytes([198, 51, 100, 53]), qport=40000, rport=53,
            qtime=(1700000000, 100), rtime=(1700000000, 2500100),
            query=None, response=None, extra=b""):
    m = pb_uint(1, mtype)
    m += pb_uint(2, 2 if len(qaddr) == 16 else 1)
    m += pb_uint(3, proto)
    m += pb_bytes(4, qaddr) + pb_bytes(5, raddr)
    m += pb_uint(6, qport) + pb_uint(7, rport)
    if qtime:
        m += pb_uint(8, qtime[0]) + pb_fixed32(9, qtime[1])
    if query is not None:
        m += pb_bytes(10, query)
    if rtime:
        m += pb_uint(12, rtime[0]) + pb_fixed32(13, rtime[1])
    if response is not None:
        m += pb_bytes(14, response)
    return m + extra


def dnstap(msg, identity=b"ns1.test"):
    return (pb_uint(15, 1) + pb_bytes(1, identity) +
            pb_bytes(2, b"test 1.0") + pb_bytes(14, msg))


def dnstap_seeds():
    name = "www.example.com"
    q, r = dns_query(name), dns_response(name)
    v6c = bytes([0x20, 0x01, 0x0D, 0xB8] + [0] * 11 + [1])
    v6s = bytes([0x20, 0x01, 0x0D, 0xB8] + [0] * 11 + [53])
    return {
        "client_response": dnstap(message(6, query=q, response=r)),
        "client_query_v6_tcp": dnstap(message(5, proto=2, qaddr=v6c,
                                              raddr=v6s, rtime=None,
                                              query=q)),
        "resolver_response_rtime": dnstap(message(4, qtime=None,
                                                  response=r)),
        "auth_query_empty": dnstap(message(1, rtime=None)),
        "forwarder_dot": dnstap(message(8, proto=3, query=q, response=r)),
        "tool_doh_nx": dnstap(message(12, proto=4, response=dns_response(
            "a1b2c3d4e5.example.org", qtype=16, rcode=3))),
        "update_unknown_fields": dnstap(message(
            14, query=q, extra=pb_uint(16, 2) + pb_bytes(15, b"\x08\x01") +
            key(99, 1) + b"\1" * 8)),
        "bad_type": dnstap(message(15, query=q)),
        "no_message": pb_uint(15, 1) + pb_bytes(1, b"id"),
        "long_varint": pb_uint(15, 1) + b"\x0a" + b"\xff" * 10 + b"\x01",
        "bad_wire_type": pb_uint(15, 1) + b"\x73\x00",
        "short_dns": dnstap(message(5, query=b"\x12\x34\x01")),
        "big_port": dnstap(message(5, qport=70000, query=q)),
    }


# ---- Frame Streams ----


def control(ctype, content_types=()):
    payload = struct.pack(">I", ctype)
    for ct in content_types:
        payload += struct.pack(">II", 1, len(ct)) + ct
    return struct.pack(">II", 0, len(payload)) + payload


def frame(data):
    return struct.pack(">I", len(data)) + data


READY, ACCEPT, START, STOP, FINISH = 4, 1, 2, 3, 5


def framestream_seeds():
    seeds = dnstap_seeds()
    good = [seeds["client_response"], seeds["client_query_v6_tcp"],
            seeds["resolver_response_rtime"]]
    body = b"".join(frame(f) for f in good)
    start = control(START, [CONTENT_TYPE])
    stop = control(STOP)
    return {
        # The first byte seeds how the fuzzer cuts the stream.
        "unidirectional": b"\x07" + start + body + stop,
        "bidirectional": b"\x21" + control(READY, [b"x", CONTENT_TYPE]) +
        start + body + stop,
        "oversized": b"\x05" + start + frame(good[0]) +
        frame(bytes(range(256)) * 5) + frame(good[1]) + stop,
        "truncated": b"\x09" + start + frame(good[0]) + frame(good[1])[:30],
        "garbage": b"\x03" + b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        "bad_control_len": b"\x01" + struct.pack(">II", 0, 2) + b"\0\2",
        "unknown_control": b"\x02" + start + control(9, [b"future"]) +
        frame(good[2]) + stop,
        "accept_finish": b"\x04" + control(ACCEPT, [CONTENT_TYPE]) +
        control(FINISH),
        "concatenated": b"\x0b" + (start + frame(good[0]) + stop) * 2,
        "data_after_stop": b"\x0c" + start + stop + frame(good[0]),
    }


def write_dir(path, files):
    os.makedirs(path, exist_ok=True)
    for old in os.listdir(path):
        os.unlink(os.path.join(path, old))
    for name, data in sorted(files.items()):
        with open(os.path.join(path, name), "wb") as f:
            f.write(data)


def main():
    write_dir(DNSTAP_DIR, dnstap_seeds())
    write_dir(FSTRM_DIR, framestream_seeds())


if __name__ == "__main__":
    main()
