#!/usr/bin/python3
"""Write the seed corpus of fuzz/fuzz_corednsevent.c.

DNSEvent messages (proto/ugallu_dns_stream.proto) are encoded here by
hand, protobuf wire format, so no protobuf module is needed.  Run from
the repository root:  scripts/gen_corpus_corednsevent.py
It replaces every file in fuzz/corpus/corednsevent.
"""
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "fuzz", "corpus", "corednsevent")
TS = 1700000000123456789


def varint(v):
    v &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = v & 0x7F
        v >>= 7
        if v:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def uint(field, v):
    return varint(field << 3) + varint(v)


def blob(field, data):
    if isinstance(data, str):
        data = data.encode()
    return varint(field << 3 | 2) + varint(len(data)) + data


def answer(rtype, ttl, data):
    return blob(16, uint(1, rtype) + uint(2, ttl) + blob(3, data))


def wire_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def event(qname="www.example.com.", qtype=1, rcode=0, transport=1,
          src=b"\x0a\x00\x00\x05", dst=b"\x0a\x60\x00\x0a", answers=b"",
          extra=b""):
    return (uint(1, TS) + blob(2, "node-a") + blob(3, src) + uint(4, 0) +
            blob(5, dst) + uint(6, 53) + blob(7, qname) + uint(8, qtype) +
            uint(9, 1) + uint(10, rcode) + uint(11, answers.count(b"\x82\x01"))
            + uint(12, 85000) + uint(13, 120) + uint(14, 41234) +
            uint(15, transport) + answers + uint(17, 45) + uint(18, 120) +
            uint(19, 0x1234) + uint(20, 0x8180 | rcode) + extra)


def cases():
    a = answer(1, 300, b"\xc0\x00\x02\x0a")
    cname = answer(5, 60, wire_name("www.example.com"))
    aaaa = answer(28, 300, bytes(15) + b"\x01")
    yield "a_noerror", event(answers=a + a)
    yield "cname_chain", event(qname="Alias.Example.COM.", answers=cname + a)
    yield "aaaa_v6_tcp", event(qname="v6.example.", qtype=28, transport=2,
                               src=bytes(15) + b"\x01",
                               dst=b"\xfd" + bytes(14) + b"\x35",
                               answers=aaaa)
    yield "nxdomain", event(qname="nope.example.", rcode=3)
    yield "root_ns", event(qname=".", qtype=2)
    yield "escapes", event(qname="a\\.b\\032c\\(x\\).example.")
    yield "many_answers", event(answers=a * 8)
    yield "big_rdata", event(qtype=16, answers=answer(16, 1, bytes(256)))
    yield "doh_transport", event(transport=4)
    yield "unknown_fields", event(extra=uint(99, 7) + blob(200, "x") +
                                  b"\xfd\x02\x01\x02\x03\x04")
    yield "minimal", uint(1, TS)
    yield "no_timestamp", blob(7, "x.example.")
    yield "negative_latency", uint(1, TS) + uint(12, -1)
    yield "bad_port", uint(1, TS) + uint(6, 70000)
    yield "bad_addr", uint(1, TS) + blob(3, b"\x01\x02\x03")
    yield "bad_qname", uint(1, TS) + blob(7, "a..b.")
    yield "long_label", uint(1, TS) + blob(7, "a" * 64 + ".")
    yield "wrong_wire", uint(1, TS) + blob(8, "A")
    yield "long_varint", b"\x08" + b"\xff" * 10 + b"\x01"
    yield "truncated", event()[:37]
    yield "group_type", uint(1, TS) + b"\x0b"


def main():
    os.makedirs(OUT, exist_ok=True)
    for name in os.listdir(OUT):
        os.unlink(os.path.join(OUT, name))
    for name, data in cases():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
    print("wrote", len(os.listdir(OUT)), "files to", OUT)


if __name__ == "__main__":
    main()
